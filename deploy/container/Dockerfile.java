# drain exec in front of a Java (Spring Boot) jar.
#   docker build -f deploy/container/Dockerfile.java --build-arg JAR=target/app.jar -t example/api .
FROM golang:1.26 AS drain
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /drain ./cmd/drain

FROM eclipse-temurin:21-jre
ARG JAR=app.jar
WORKDIR /app
COPY ${JAR} /app/app.jar
COPY --from=drain /drain /usr/local/bin/drain
ENV PORT=8080
EXPOSE 8080
# The JVM starts slowly: --ready-timeout covers it. Spring's own graceful
# shutdown is not needed (drain exec signals the JVM only once nothing is in
# flight); --child-grace bounds the JVM's exit.
ENTRYPOINT ["drain", "exec", "--ready-timeout", "120s", "--upstream-ready-path", "/actuator/health", "--", "java", "-Dserver.address=127.0.0.1", "-Dserver.port={port}", "-jar", "/app/app.jar"]
