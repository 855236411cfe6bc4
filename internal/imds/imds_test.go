package imds

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// server is a strict IMDSv2 fake with knobs for the behaviours under test.
type server struct {
	tokens      atomic.Int32 // tokens issued
	gets        atomic.Int32
	fail500     atomic.Int32 // answer 500 to this many GETs first
	expireFirst atomic.Bool  // refuse the first token once with 401
	token       atomic.Value
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		n := s.tokens.Add(1)
		tok := "tok-" + string(rune('a'+n))
		s.token.Store(tok)
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		w.Write([]byte(tok))
		return
	}
	s.gets.Add(1)
	if r.Header.Get("X-aws-ec2-metadata-token") != s.token.Load() {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	if s.expireFirst.CompareAndSwap(true, false) {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	if s.fail500.Load() > 0 {
		s.fail500.Add(-1)
		http.Error(w, "", http.StatusInternalServerError)
		return
	}
	switch r.URL.Path {
	case "/latest/meta-data/instance-id":
		w.Write([]byte("i-123\n"))
	case "/latest/user-data":
		w.Write(make([]byte, 2048))
	default:
		http.NotFound(w, r)
	}
}

func newTest(t *testing.T, opts ...Option) (*server, *Client) {
	t.Helper()
	s := &server{}
	s.token.Store("")
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	opts = append([]Option{WithBackoff(time.Millisecond, 5*time.Millisecond), WithDeadline(3 * time.Second)}, opts...)
	return s, New(ts.URL, opts...)
}

func TestGetString(t *testing.T) {
	s, c := newTest(t)
	got, err := c.GetString(context.Background(), "meta-data/instance-id")
	if err != nil || got != "i-123" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The token is cached.
	if _, err := c.Get(context.Background(), "meta-data/instance-id"); err != nil {
		t.Fatal(err)
	}
	if n := s.tokens.Load(); n != 1 {
		t.Fatalf("tokens issued = %d, want 1", n)
	}
}

func TestNotFound(t *testing.T) {
	_, c := newTest(t)
	_, err := c.Get(context.Background(), "meta-data/nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestRefreshOn401(t *testing.T) {
	s, c := newTest(t)
	s.expireFirst.Store(true)
	if _, err := c.GetString(context.Background(), "meta-data/instance-id"); err != nil {
		t.Fatal(err)
	}
	if n := s.tokens.Load(); n != 2 {
		t.Fatalf("tokens issued = %d, want 2 (refresh after 401)", n)
	}
}

func TestRetryOn500(t *testing.T) {
	s, c := newTest(t)
	s.fail500.Store(3)
	if _, err := c.GetString(context.Background(), "meta-data/instance-id"); err != nil {
		t.Fatal(err)
	}
	if n := s.gets.Load(); n != 4 {
		t.Fatalf("GETs = %d, want 4", n)
	}
}

func TestDeadline(t *testing.T) {
	s, c := newTest(t, WithDeadline(200*time.Millisecond))
	s.fail500.Store(1 << 30)
	start := time.Now()
	_, err := c.Get(context.Background(), "meta-data/instance-id")
	if err == nil {
		t.Fatal("want an error")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %s, deadline not honoured", el)
	}
}

func TestConnectionRefusedRetriesUntilDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: every attempt is refused
	c := New("http://"+addr, WithDeadline(150*time.Millisecond), WithBackoff(time.Millisecond, 10*time.Millisecond))
	_, err = c.Get(context.Background(), "user-data")
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want a connection error", err)
	}
}

func TestMaxBody(t *testing.T) {
	_, c := newTest(t, WithMaxBody(1024))
	if _, err := c.Get(context.Background(), "user-data"); err == nil {
		t.Fatal("want a size error")
	}
}

func TestTokenRequestRefused(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "", http.StatusForbidden)
	}))
	defer ts.Close()
	c := New(ts.URL, WithDeadline(2*time.Second))
	start := time.Now()
	if _, err := c.Get(context.Background(), "user-data"); err == nil {
		t.Fatal("want an error")
	}
	if time.Since(start) > time.Second {
		t.Fatal("a refused token must not be retried until the deadline")
	}
}

func TestEndpointFromEnv(t *testing.T) {
	t.Setenv(EndpointEnv, "http://10.0.0.1:8080/")
	if got := FromEnv().Endpoint(); got != "http://10.0.0.1:8080" {
		t.Fatalf("endpoint = %q", got)
	}
	t.Setenv(EndpointEnv, "")
	if got := FromEnv().Endpoint(); got != DefaultEndpoint {
		t.Fatalf("endpoint = %q", got)
	}
}
