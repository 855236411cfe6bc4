// Package imds is the one EC2 instance metadata client both stages share: IMDSv2 only (a PUT
// token with a TTL, refreshed on 401 and before expiry), full-jitter backoff on connection
// errors and 5xx inside an overall deadline (the network may come up late), 404 reported as
// ErrNotFound, and a bound on response size.
package imds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bootplan/bootplan/internal/backoff"
)

// DefaultEndpoint is the IMDS address on EC2.
const DefaultEndpoint = "http://169.254.169.254"

// EndpointEnv names the variable (usually on the kernel command line) that overrides it.
const EndpointEnv = "AWS_EC2_METADATA_SERVICE_ENDPOINT"

// ErrNotFound is returned for a 404: the path does not exist on this instance.
var ErrNotFound = errors.New("not found in instance metadata")

// Client talks to IMDS. It is safe for concurrent use.
type Client struct {
	endpoint   string
	http       *http.Client
	ttl        time.Duration
	deadline   time.Duration // overall budget for one Get, retries included
	maxBody    int64
	baseDelay  time.Duration
	maxDelay   time.Duration
	reqTimeout time.Duration

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithDeadline bounds one Get, retries included (default 60 s).
func WithDeadline(d time.Duration) Option { return func(c *Client) { c.deadline = d } }

// WithTokenTTL sets the token lifetime asked for (default 6 h).
func WithTokenTTL(d time.Duration) Option { return func(c *Client) { c.ttl = d } }

// WithMaxBody bounds a response body (default 1 MiB; user data may be up to 16 KiB on EC2,
// but a proxy or a test may serve more).
func WithMaxBody(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithBackoff sets the base and cap of the full-jitter backoff (default 100 ms, 2 s).
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) { c.baseDelay, c.maxDelay = base, max }
}

// WithRequestTimeout bounds one HTTP request (default 5 s).
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.reqTimeout = d } }

// New returns a client for endpoint ("" = from the environment, else DefaultEndpoint).
func New(endpoint string, opts ...Option) *Client {
	if endpoint == "" {
		endpoint = os.Getenv(EndpointEnv)
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	c := &Client{
		endpoint:   strings.TrimRight(endpoint, "/"),
		ttl:        6 * time.Hour,
		deadline:   60 * time.Second,
		maxBody:    1 << 20,
		baseDelay:  100 * time.Millisecond,
		maxDelay:   2 * time.Second,
		reqTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	// No proxy: IMDS is link-local and a proxy from the environment must never see the token.
	c.http = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: false, MaxIdleConnsPerHost: 2}}
	return c
}

// FromEnv returns a client for the endpoint named by the environment.
func FromEnv(opts ...Option) *Client { return New("", opts...) }

// Endpoint returns the base URL the client uses.
func (c *Client) Endpoint() string { return c.endpoint }

// StatusError is a non-2xx answer other than 404.
type StatusError struct {
	Path   string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("IMDS %s: HTTP %d", e.Path, e.Status)
}

func retryable(status int) bool {
	return status == http.StatusInternalServerError || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout ||
		status == http.StatusTooManyRequests
}

// Get fetches /latest/<path> (e.g. "user-data", "meta-data/instance-id").
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	path = strings.TrimLeft(path, "/")
	ctx, cancel := context.WithTimeout(ctx, c.deadline)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		body, status, err := c.getOnce(ctx, path)
		switch {
		case err == nil && status == http.StatusOK:
			return body, nil
		case err == nil && status == http.StatusNotFound:
			return nil, fmt.Errorf("IMDS %s: %w", path, ErrNotFound)
		case err == nil && status == http.StatusUnauthorized:
			// The token expired or was revoked: drop it; the retry fetches a new one.
			c.dropToken()
			last = &StatusError{Path: path, Status: status}
			if attempt == 0 {
				continue
			}
		case err == nil && !retryable(status):
			return nil, &StatusError{Path: path, Status: status}
		case err == nil:
			last = &StatusError{Path: path, Status: status}
		default:
			var pe *permanentError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("IMDS %s: %w", path, pe.err)
			}
			last = err
		}
		if !c.sleep(ctx, attempt) {
			return nil, fmt.Errorf("IMDS %s: gave up after %d attempts in %s: %w", path, attempt+1, c.deadline, last)
		}
	}
}

// GetString fetches a path and trims surrounding white space.
func (c *Client) GetString(ctx context.Context, path string) (string, error) {
	b, err := c.Get(ctx, path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// sleep waits a full-jitter backoff; false when the context ends first.
func (c *Client) sleep(ctx context.Context, attempt int) bool {
	return backoff.Sleep(ctx, backoff.Delay(c.baseDelay, c.maxDelay, attempt)) == nil
}

func (c *Client) dropToken() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

func (c *Client) getToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Now().Before(c.tokenExp) {
		return c.token, nil
	}
	rctx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPut, c.endpoint+"/latest/api/token", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(int(c.ttl/time.Second)))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("IMDS token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("IMDS token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &StatusError{Path: "api/token", Status: resp.StatusCode}
	}
	c.token = strings.TrimSpace(string(b))
	// Refresh well before expiry so a long boot never presents a stale token.
	ttl := c.ttl
	if s, err := strconv.Atoi(resp.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")); err == nil && s > 0 {
		ttl = time.Duration(s) * time.Second
	}
	c.tokenExp = time.Now().Add(ttl - min(ttl/10, 5*time.Minute))
	return c.token, nil
}

func (c *Client) getOnce(ctx context.Context, path string) ([]byte, int, error) {
	tok, err := c.getToken(ctx)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && !retryable(se.Status) {
			return nil, 0, &permanentError{fmt.Errorf("IMDSv2 token refused (HTTP %d); is IMDSv2 enabled on this instance?", se.Status)}
		}
		return nil, 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.endpoint+"/latest/"+path, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-aws-ec2-metadata-token", tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(b)) > c.maxBody {
		return nil, 0, &permanentError{fmt.Errorf("response larger than %d bytes", c.maxBody)}
	}
	return b, resp.StatusCode, nil
}

// permanentError is not worth a retry.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
