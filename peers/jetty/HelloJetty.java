// hello-rest on embedded Jetty 9.4 with Jetty's own graceful stop, the way Spring Boot's
// classic recipe configures it: the handler wrapped in a StatisticsHandler (which tracks
// in-flight requests and makes Server.stop() wait for them), Server.setStopTimeout(10 s)
// and Server.setStopAtShutdown(true) (a JVM shutdown hook, so SIGTERM triggers Server.stop()).
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.AbstractHandler;
import org.eclipse.jetty.server.handler.StatisticsHandler;

public class HelloJetty {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(envOr("PORT", "8080"));
        double delay = Double.parseDouble(envOr("HELLO_REST_REQUEST_DELAY", "0"));
        long delayNanos = (long) (delay * 1e9);

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);

        AbstractHandler hello = new AbstractHandler() {
            @Override
            public void handle(String target, Request baseRequest, HttpServletRequest request,
                    HttpServletResponse response) throws IOException {
                baseRequest.setHandled(true);
                String method = request.getMethod();
                if ("/health".equals(target) && "GET".equals(method)) {
                    boolean stopping = server.isStopping();
                    write(response, stopping ? 503 : 200, stopping ? "Shutting down" : "OK");
                } else if ("/".equals(target) && ("GET".equals(method) || "POST".equals(method))) {
                    if ("POST".equals(method)) {
                        try (InputStream in = request.getInputStream()) {
                            in.readAllBytes();
                        }
                    }
                    sleepNanos(delayNanos);
                    write(response, 200, "Hello, World!");
                } else {
                    write(response, 404, "Not Found");
                }
            }
        };

        StatisticsHandler stats = new StatisticsHandler();
        stats.setHandler(hello);
        server.setHandler(stats);
        server.setStopTimeout(10_000);
        server.setStopAtShutdown(true);

        server.start();
        System.err.println("jetty " + Server.getVersion() + " listening on 127.0.0.1:" + port
                + " (delay " + delay + " s)");
        server.join();
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
