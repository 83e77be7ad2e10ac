// hello-rest on Gin with the background article's http.Server.Shutdown code:
// on SIGINT/SIGTERM, Shutdown with a grace period of 2 x the request delay, then exit.
package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	request_delay := 0.0
	if s := os.Getenv("HELLO_REST_REQUEST_DELAY"); s != "" {
		d, err := strconv.ParseFloat(s, 64)
		if err != nil {
			log.Fatalf("HELLO_REST_REQUEST_DELAY: %v", err)
		}
		request_delay = d
	}

	gin.SetMode(gin.ReleaseMode)
	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		time.Sleep(time.Duration(request_delay * float64(time.Second)))
		c.String(http.StatusOK, "Hello, World!")
	})
	router.POST("/", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		time.Sleep(time.Duration(request_delay * float64(time.Second)))
		c.String(http.StatusOK, "Hello, World!")
	})
	// net/http has no "shutting down" notion for handlers: always 200.
	router.GET("/health", func(c *gin.Context) {
		c.String(http.StatusOK, "OK")
	})

	server := &http.Server{
		Addr:    "127.0.0.1:" + port,
		Handler: router,
	}

	shutdownComplete := make(chan struct{})
	go func() {
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
		<-quit

		grace_period := time.Duration(request_delay * 2.0 * float64(time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), grace_period)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			log.Printf("HTTP server Shutdown: %v", err)
		}
		close(shutdownComplete)
	}()

	log.Printf("gin listening on %s (delay %gs)", server.Addr, request_delay)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("listen: %s\n", err)
	}
	<-shutdownComplete
}
