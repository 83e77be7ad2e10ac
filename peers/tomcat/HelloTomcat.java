// hello-rest on embedded Tomcat 10.1 with graceful shutdown done the way Spring Boot does it
// (server.shutdown=graceful, TomcatWebServer's GracefulShutdown): on SIGTERM a JVM shutdown hook
// flips readiness to "refusing traffic" (/health -> 503), pauses every connector and closes its
// server socket gracefully, waits (polling every 50 ms, at most 10 s) until no context has a
// servlet allocated or async request in progress, then stops and destroys Tomcat.
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.apache.catalina.Container;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.core.StandardWrapper;
import org.apache.catalina.startup.Tomcat;
import org.apache.catalina.util.ServerInfo;

public class HelloTomcat {
    static final long GRACE_MILLIS = 10_000;
    static volatile boolean shuttingDown = false;

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(envOr("PORT", "8080"));
        double delay = Double.parseDouble(envOr("HELLO_REST_REQUEST_DELAY", "0"));
        long delayNanos = (long) (delay * 1e9);

        File base = Files.createTempDirectory("drain-tomcat").toFile();
        base.deleteOnExit();
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.getAbsolutePath());
        Connector connector = new Connector("HTTP/1.1");
        connector.setPort(port);
        connector.setProperty("address", "127.0.0.1");
        tomcat.setConnector(connector);

        Context ctx = tomcat.addContext("", null);
        Tomcat.addServlet(ctx, "hello", new HttpServlet() {
            @Override
            protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                String path = req.getRequestURI();
                if ("/health".equals(path)) {
                    write(resp, shuttingDown ? 503 : 200, shuttingDown ? "Shutting down" : "OK");
                } else if ("/".equals(path)) {
                    sleepNanos(delayNanos);
                    write(resp, 200, "Hello, World!");
                } else {
                    write(resp, 404, "Not Found");
                }
            }

            @Override
            protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                if (!"/".equals(req.getRequestURI())) {
                    write(resp, 404, "Not Found");
                    return;
                }
                try (InputStream in = req.getInputStream()) {
                    in.readAllBytes();
                }
                sleepNanos(delayNanos);
                write(resp, 200, "Hello, World!");
            }
        });
        ctx.addServletMappingDecoded("/", "hello");

        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutDownGracefully(tomcat), "graceful-shutdown"));

        tomcat.start();
        System.err.println(ServerInfo.getServerInfo() + " listening on 127.0.0.1:" + port + " (delay " + delay + " s)");
        tomcat.getServer().await();
    }

    // Spring Boot's org.springframework.boot.web.embedded.tomcat.GracefulShutdown, then stop.
    static void shutDownGracefully(Tomcat tomcat) {
        shuttingDown = true;
        System.err.println("Commencing graceful shutdown. Waiting for active requests to complete");
        for (Connector connector : tomcat.getService().findConnectors()) {
            connector.pause();
            connector.getProtocolHandler().closeServerSocketGraceful();
        }
        long deadline = System.currentTimeMillis() + GRACE_MILLIS;
        boolean idle = true;
        try {
            outer:
            for (Container host : tomcat.getEngine().findChildren()) {
                for (Container context : host.findChildren()) {
                    while (isActive(context)) {
                        if (System.currentTimeMillis() >= deadline) {
                            idle = false;
                            break outer;
                        }
                        Thread.sleep(50);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        System.err.println(idle ? "Graceful shutdown complete" : "Graceful shutdown aborted with one or more requests still active");
        try {
            tomcat.stop();
            tomcat.destroy();
        } catch (Exception e) {
            System.err.println("Tomcat stop failed: " + e);
        }
    }

    static boolean isActive(Container context) {
        if (((StandardContext) context).getInProgressAsyncCount() > 0) {
            return true;
        }
        for (Container wrapper : context.findChildren()) {
            if (((StandardWrapper) wrapper).getCountAllocated() > 0) {
                return true;
            }
        }
        return false;
    }

    static void write(HttpServletResponse response, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        response.setStatus(status);
        response.setContentType("text/plain; charset=utf-8");
        response.setContentLength(bytes.length);
        response.getOutputStream().write(bytes);
    }

    static void sleepNanos(long nanos) {
        if (nanos <= 0) return;
        try {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String envOr(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }
}
