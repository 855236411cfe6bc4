package imds

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// statusServer issues tokens and answers every GET with the next status of statuses (the
// last one repeating), counting both.
type statusServer struct {
	tokens, gets atomic.Int32
	statuses     []int
	tokenTTL     string // the TTL header of the token answer ("" = echo the request's)
	askedTTL     atomic.Value
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		s.tokens.Add(1)
		s.askedTTL.Store(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		ttl := s.tokenTTL
		if ttl == "" {
			ttl = r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")
		}
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		w.Write([]byte(" tok\n"))
		return
	}
	n := int(s.gets.Add(1))
	if r.Header.Get("X-aws-ec2-metadata-token") != "tok" {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	st := s.statuses[min(n, len(s.statuses))-1]
	w.WriteHeader(st)
	w.Write([]byte("body"))
}

func newStatus(t *testing.T, statuses []int, opts ...Option) (*statusServer, *Client) {
	t.Helper()
	s := &statusServer{statuses: statuses}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	opts = append([]Option{WithBackoff(time.Millisecond, 5*time.Millisecond), WithDeadline(3 * time.Second)}, opts...)
	return s, New(ts.URL, opts...)
}

// 500, 502, 503, 504 and 429 are retried (one GET more, then the answer); any other status
// is returned at once as a StatusError.
func TestWhichStatusesAreRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		gets   int32
		err    string
	}{
		{500, 2, ""}, {502, 2, ""}, {503, 2, ""}, {504, 2, ""}, {429, 2, ""},
		{400, 1, "IMDS user-data: HTTP 400"}, {403, 1, "IMDS user-data: HTTP 403"},
		{501, 1, "IMDS user-data: HTTP 501"}, {301, 1, "IMDS user-data: HTTP 301"},
	} {
		s, c := newStatus(t, []int{tc.status, http.StatusOK})
		body, err := c.Get(context.Background(), "/user-data")
		var se *StatusError
		switch {
		case tc.err == "" && (err != nil || string(body) != "body"):
			t.Errorf("%d: %q, %v; want the body after a retry", tc.status, body, err)
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.As(err, &se) || se.Status != tc.status):
			t.Errorf("%d: %v, want %q", tc.status, err, tc.err)
		}
		if n := s.gets.Load(); n != tc.gets {
			t.Errorf("%d: %d GETs, want %d", tc.status, n, tc.gets)
		}
	}
}

// A 401 drops the token: the next GET presents a new one at once, without a backoff (an
// hour here, so a sleep would run into the deadline); a second 401 in a row is retried too.
func TestUnauthorized(t *testing.T) {
	s, c := newStatus(t, []int{http.StatusUnauthorized, http.StatusOK}, WithBackoff(time.Hour, time.Hour), WithDeadline(2*time.Second))
	if b, err := c.Get(context.Background(), "meta-data/x"); err != nil || string(b) != "body" {
		t.Fatalf("after one 401: %q, %v", b, err)
	}
	if g, tk := s.gets.Load(), s.tokens.Load(); g != 2 || tk != 2 {
		t.Fatalf("%d GETs, %d tokens; want 2, 2", g, tk)
	}
	s, c = newStatus(t, []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusOK})
	if b, err := c.Get(context.Background(), "meta-data/x"); err != nil || string(b) != "body" {
		t.Fatalf("after two 401s: %q, %v", b, err)
	}
	if g, tk := s.gets.Load(), s.tokens.Load(); g != 3 || tk != 3 {
		t.Fatalf("%d GETs, %d tokens; want 3, 3", g, tk)
	}
}

// The token TTL asked for (default 6 h, or WithTokenTTL) and the refresh time: the TTL the
// server grants (else the one asked for), less a tenth of it, at most 5 minutes.
func TestTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		opt       []Option
		granted   string
		asked     string
		refreshIn time.Duration
	}{
		{nil, "", "21600", 6*time.Hour - 5*time.Minute},
		{[]Option{WithTokenTTL(100 * time.Second)}, "", "100", 90 * time.Second},
		{[]Option{WithTokenTTL(100 * time.Second)}, "50", "100", 45 * time.Second},
		{[]Option{WithTokenTTL(100 * time.Second)}, "0", "100", 90 * time.Second},
		{[]Option{WithTokenTTL(100 * time.Second)}, "x", "100", 90 * time.Second},
		{[]Option{WithTokenTTL(3000 * time.Second)}, "", "3000", 2700 * time.Second},
		{[]Option{WithTokenTTL(3001 * time.Second)}, "", "3001", 3001*time.Second - 300*time.Second},
	} {
		s, c := newStatus(t, []int{http.StatusOK}, tc.opt...)
		s.tokenTTL = tc.granted
		before := time.Now()
		if _, err := c.Get(context.Background(), "user-data"); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		if got := s.askedTTL.Load(); got != tc.asked {
			t.Errorf("asked TTL %v, want %s", got, tc.asked)
		}
		c.mu.Lock()
		exp, tok := c.tokenExp, c.token
		c.mu.Unlock()
		if tok != "tok" || exp.Before(before.Add(tc.refreshIn)) || exp.After(after.Add(tc.refreshIn)) {
			t.Errorf("granted %q: token %q refreshed in %v, want %v", tc.granted, tok, exp.Sub(before), tc.refreshIn)
		}
	}
}

// An expired token is replaced before the GET.
func TestExpiredTokenRefreshed(t *testing.T) {
	s, c := newStatus(t, []int{http.StatusOK})
	if _, err := c.Get(context.Background(), "user-data"); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.tokenExp = time.Now().Add(-time.Second)
	c.mu.Unlock()
	if _, err := c.Get(context.Background(), "user-data"); err != nil {
		t.Fatal(err)
	}
	if n := s.tokens.Load(); n != 2 {
		t.Fatalf("%d tokens, want 2", n)
	}
}

// A body of exactly the bound is read; one byte more is refused without a retry.
func TestMaxBodyBoundary(t *testing.T) {
	_, c := newTest(t, WithMaxBody(2048))
	if b, err := c.Get(context.Background(), "user-data"); err != nil || len(b) != 2048 {
		t.Fatalf("2048 bytes, bound 2048: %d bytes, %v", len(b), err)
	}
	s, c := newTest(t, WithMaxBody(2047))
	if _, err := c.Get(context.Background(), "user-data"); err == nil || err.Error() != "IMDS user-data: response larger than 2047 bytes" {
		t.Fatalf("2048 bytes, bound 2047: %v", err)
	}
	if n := s.gets.Load(); n != 1 {
		t.Fatalf("%d GETs, want 1", n)
	}
}

// A refused token (4xx) is not retried: one token request, and an error that says what to
// check. A 5xx token answer is retried.
func TestTokenAnswers(t *testing.T) {
	var tokens atomic.Int32
	status := http.StatusForbidden
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			if tokens.Add(1) == 1 {
				http.Error(w, "", status)
				return
			}
			w.Write([]byte("tok"))
			return
		}
		w.Write([]byte("ok"))
	}))
	defer ts.Close()
	c := New(ts.URL, WithDeadline(2*time.Second), WithBackoff(time.Millisecond, time.Millisecond))
	_, err := c.Get(context.Background(), "user-data")
	if err == nil || err.Error() != "IMDS user-data: IMDSv2 token refused (HTTP 403); is IMDSv2 enabled on this instance?" {
		t.Fatalf("err = %v", err)
	}
	if n := tokens.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	tokens.Store(0)
	status = http.StatusServiceUnavailable
	c = New(ts.URL, WithDeadline(2*time.Second), WithBackoff(time.Millisecond, time.Millisecond))
	if b, err := c.Get(context.Background(), "user-data"); err != nil || string(b) != "ok" {
		t.Fatalf("after a 503 token answer: %q, %v", b, err)
	}
	if n := tokens.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

// The documented defaults: 60 s per Get, 6 h tokens, 1 MiB bodies, backoff 100 ms to 2 s,
// 5 s per request.
func TestDefaults(t *testing.T) {
	c := New("http://x")
	if c.deadline != 60*time.Second || c.ttl != 6*time.Hour || c.maxBody != 1<<20 ||
		c.baseDelay != 100*time.Millisecond || c.maxDelay != 2*time.Second || c.reqTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	c = New("http://x", WithRequestTimeout(time.Second), WithBackoff(time.Millisecond, time.Minute))
	if c.reqTimeout != time.Second || c.baseDelay != time.Millisecond || c.maxDelay != time.Minute {
		t.Fatalf("options: %+v", c)
	}
}

// A Get whose budget is already spent makes one attempt and says so.
func TestGaveUpAfterOneAttempt(t *testing.T) {
	s, c := newStatus(t, []int{http.StatusOK}, WithDeadline(0))
	_, err := c.Get(context.Background(), "user-data")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "IMDS user-data: gave up after 1 attempts in 0s: IMDS token: ") {
		t.Fatalf("err = %v", err)
	}
	if n := s.tokens.Load() + s.gets.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}
