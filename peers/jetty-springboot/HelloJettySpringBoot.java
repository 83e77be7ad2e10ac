// hello-rest on embedded Jetty 9.4 with graceful shutdown done exactly as Spring Boot 2.3+ does it
// for Jetty (server.shutdown=graceful): JettyServletWebServerFactory wraps the handler in a
// StatisticsHandler; on SIGTERM Spring's shutdown hook closes the context, which
//   1. publishes ReadinessState.REFUSING_TRAFFIC (/health -> 503),
//   2. runs JettyWebServer's GracefulShutdown: connector.shutdown() on every connector (stop
//      accepting; established connections keep being served), then polls every 100 ms until
//      StatisticsHandler.getRequestsActive() is 0 (bounded by timeout-per-shutdown-phase, here
//      10 s instead of Spring's 30 s to match the other peers),
//   3. stops the web server: Server.stop() (Jetty's default 30 s stop timeout).
// Jetty's own stopAtShutdown hook is not used (Spring does not use it).
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Future;

import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.AbstractHandler;
import org.eclipse.jetty.server.handler.StatisticsHandler;

public class HelloJettySpringBoot {
    static final long GRACE_MILLIS = 10_000;
    static volatile boolean refusingTraffic = false;

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
                    boolean refusing = refusingTraffic;
                    write(response, refusing ? 503 : 200, refusing ? "REFUSING_TRAFFIC" : "ACCEPTING_TRAFFIC");
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

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            refusingTraffic = true;
            shutDownGracefully(server, stats);
            try {
                server.stop();
            } catch (Exception e) {
                System.err.println("Jetty stop failed: " + e);
            }
        }, "SpringApplicationShutdownHook"));

        server.start();
        System.err.println("jetty " + Server.getVersion() + " (Spring Boot style) listening on 127.0.0.1:"
                + port + " (delay " + delay + " s)");
        server.join();
    }

    // org.springframework.boot.web.embedded.jetty.GracefulShutdown (Jetty 9 path).
    static void shutDownGracefully(Server server, StatisticsHandler stats) {
        System.err.println("Commencing graceful shutdown. Waiting for active requests to complete");
        for (Connector connector : server.getConnectors()) {
            try {
                Future<Void> result = connector.shutdown();
                result.get();
            } catch (Exception e) {
                // Spring Boot ignores these as well
            }
        }
        long deadline = System.currentTimeMillis() + GRACE_MILLIS;
        while (stats.getRequestsActive() > 0 && System.currentTimeMillis() < deadline) {
            sleepNanos(100_000_000L);
        }
        long active = stats.getRequestsActive();
        System.err.println(active == 0 ? "Graceful shutdown complete"
                : "Graceful shutdown aborted with " + active + " request(s) still active");
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
