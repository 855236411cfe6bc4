package stage2

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// An AWS endpoint that accepts the request and never answers must not hang stage two for
// ever: stage two's steps have no deadline of their own, so each request has one.
func TestAWSRequestToStalledServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // accept, then never answer
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	old := awsRequestTimeout
	awsRequestTimeout = 300 * time.Millisecond
	t.Cleanup(func() { awsRequestTimeout = old })

	a := NewAWS(nil)
	a.ConfigOptions = []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1),
	}
	rt := &Runtime{AWS: a}
	done := make(chan error, 1)
	go func() {
		_, err := rt.getParameter(context.Background(), "/app/token")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stalled server gave a parameter")
		}
		t.Logf("failed as expected: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("GetParameter against a server that never answers did not return within 15s")
	}
}
