// Package imdsmock is a strict IMDSv2 server for tests: the VM scenarios reach it through
// QEMU's user network at 169.254.169.254, and unit tests use it with httptest.
//
// Behaviour: PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds in 1..21600
// (400 otherwise) and refuses X-Forwarded-For (403); every GET needs a live token in
// X-aws-ec2-metadata-token (401 otherwise). Directories list their children, one per line,
// sub-directories with a trailing "/". Faults (delay, 500s, dropped connections, early token
// expiry) are chosen per server.
package imdsmock

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default facts served when a Config leaves them empty.
const (
	DefaultInstanceID = "i-test12345"
	DefaultHostname   = "test-host"
	DefaultLocalIPv4  = "169.254.169.15"
	DefaultRegion     = "us-east-1"
	DefaultAZ         = "us-east-1a"
	DefaultRole       = "test-instance-role"
	DefaultPublicKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootplanTestKeyOnlyForTestsXXXXXXXXXXXXXX test-key"
	TokenHeader       = "X-aws-ec2-metadata-token"
	TTLHeader         = "X-aws-ec2-metadata-token-ttl-seconds"
)

// DefaultMACs are the MAC addresses the VM runner gives NIC 0, 1, 2, ...
var DefaultMACs = []string{"52:54:00:12:34:56", "52:54:00:12:34:57", "52:54:00:12:34:58"}

// Credentials are the static role credentials served under iam/security-credentials/<role>.
type Credentials struct {
	AccessKeyID, SecretAccessKey, Token string
}

// Faults selects misbehaviour.
type Faults struct {
	Delay         time.Duration // added before every response
	Fail500First  int           // the first N requests (any method) get HTTP 500
	DropFirst     int           // the first N requests have their connection closed, no response
	TokenLifetime time.Duration // when > 0, tokens expire after this even if their TTL is longer
}

// Config is what the server serves. The zero value serves the defaults, no user data and no
// spot notice.
type Config struct {
	UserData     []byte // nil → 404
	GzipUserData bool   // serve UserData gzipped
	InstanceID   string
	Hostname     string
	LocalIPv4    string
	Region       string
	AZ           string
	MACs         []string // NIC MACs in device-number order; empty → DefaultMACs[:1]
	PublicKey    string   // empty → DefaultPublicKey
	NoPublicKey  bool     // public-keys/ → 404
	Role         string   // empty → DefaultRole
	NoRole       bool     // iam/ → 404 (no instance profile)
	Creds        Credentials
	SpotDelay    time.Duration // > 0: spot/instance-action appears this long after Start
	SpotAction   string        // default "terminate"
	// Extra meta-data leaves, path (relative to /latest/meta-data/) → value; they override
	// the defaults. An empty value deletes the leaf.
	Extra  map[string]string
	Faults Faults
}

// Server is the mock. Create it with New; use it as an http.Handler or call Start.
type Server struct {
	cfg      Config
	userData []byte
	leaves   map[string]string
	mu       sync.Mutex
	start    time.Time
	requests int
	tokens   map[string]time.Time
	log      []string
	ln       net.Listener
	srv      *http.Server
}

// New returns a server for cfg. The spot delay counts from New (and again from Start).
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, tokens: map[string]time.Time{}, start: time.Now()}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.cfg.InstanceID, DefaultInstanceID)
	def(&s.cfg.Hostname, DefaultHostname)
	def(&s.cfg.LocalIPv4, DefaultLocalIPv4)
	def(&s.cfg.Region, DefaultRegion)
	def(&s.cfg.AZ, DefaultAZ)
	def(&s.cfg.PublicKey, DefaultPublicKey)
	def(&s.cfg.Role, DefaultRole)
	def(&s.cfg.SpotAction, "terminate")
	def(&s.cfg.Creds.AccessKeyID, "test")
	def(&s.cfg.Creds.SecretAccessKey, "test")
	def(&s.cfg.Creds.Token, "test-session-token")
	if len(s.cfg.MACs) == 0 {
		s.cfg.MACs = DefaultMACs[:1]
	}
	if cfg.UserData != nil {
		s.userData = cfg.UserData
		if cfg.GzipUserData {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(cfg.UserData); err != nil {
				return nil, fmt.Errorf("imdsmock: gzip user data: %w", err)
			}
			if err := zw.Close(); err != nil {
				return nil, fmt.Errorf("imdsmock: gzip user data: %w", err)
			}
			s.userData = buf.Bytes()
		}
	}
	s.leaves = s.buildLeaves()
	return s, nil
}

func (s *Server) buildLeaves() map[string]string {
	c := s.cfg
	l := map[string]string{
		"ami-id":                         "ami-0123456789abcdef0",
		"ami-launch-index":               "0",
		"hostname":                       c.Hostname,
		"instance-id":                    c.InstanceID,
		"instance-type":                  "t3.micro",
		"local-hostname":                 c.Hostname,
		"local-ipv4":                     c.LocalIPv4,
		"mac":                            c.MACs[0],
		"placement/availability-zone":    c.AZ,
		"placement/region":               c.Region,
		"block-device-mapping/ami":       "/dev/xvda",
		"block-device-mapping/root":      "/dev/xvda",
		"services/domain":                "amazonaws.com",
		"services/partition":             "aws",
		"security-groups":                "test-sg",
		"instance-life-cycle":            "spot",
		"placement/availability-zone-id": "use1-az1",
	}
	for i, mac := range c.MACs {
		p := "network/interfaces/macs/" + mac + "/"
		l[p+"device-number"] = strconv.Itoa(i)
		l[p+"interface-id"] = fmt.Sprintf("eni-%017d", i)
		l[p+"local-ipv4s"] = fmt.Sprintf("169.254.%d.15", 169+i)
		l[p+"mac"] = mac
		l[p+"subnet-id"] = "subnet-0123456789abcdef0"
		l[p+"vpc-id"] = "vpc-0123456789abcdef0"
	}
	if !c.NoPublicKey {
		l["public-keys/0/openssh-key"] = c.PublicKey
	}
	if !c.NoRole {
		l["iam/info"] = fmt.Sprintf(`{"Code":"Success","InstanceProfileArn":"arn:aws:iam::123456789012:instance-profile/%s","InstanceProfileId":"AIPATEST"}`, c.Role)
		creds, _ := json.Marshal(map[string]string{
			"Code":            "Success",
			"LastUpdated":     "2024-01-01T00:00:00Z",
			"Type":            "AWS-HMAC",
			"AccessKeyId":     c.Creds.AccessKeyID,
			"SecretAccessKey": c.Creds.SecretAccessKey,
			"Token":           c.Creds.Token,
			"Expiration":      "2099-01-01T00:00:00Z",
		})
		l["iam/security-credentials/"+c.Role] = string(creds)
	}
	for k, v := range c.Extra {
		k = strings.Trim(k, "/")
		if v == "" {
			delete(l, k)
			continue
		}
		l[k] = v
	}
	return l
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close. It returns the
// address it listens on.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("imdsmock: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.start = time.Now()
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Unlock()
	go func() { _ = s.srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Close stops a started server.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// Log returns one line per request seen: "METHOD PATH → STATUS".
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *Server) record(r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf("%s %s %s -> %d",
		time.Since(s.start).Truncate(time.Millisecond), r.Method, r.URL.Path, status))
}

func (s *Server) newToken(ttl time.Duration) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "mock-imds-" + hex.EncodeToString(b)
	if lt := s.cfg.Faults.TokenLifetime; lt > 0 && lt < ttl {
		ttl = lt
	}
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(ttl)
	s.mu.Unlock()
	return tok
}

func (s *Server) tokenValid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()
	f := s.cfg.Faults
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if n <= f.DropFirst {
		s.record(r, 0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	}
	if n <= f.DropFirst+f.Fail500First {
		s.fail(w, r, http.StatusInternalServerError, "injected failure")
		return
	}
	s.serve(w, r)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.record(r, status)
	http.Error(w, msg, status)
}

func (s *Server) ok(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	s.record(r, http.StatusOK)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasSuffix(p, "/api/token") {
		s.token(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !s.tokenValid(r.Header.Get(TokenHeader)) {
		s.fail(w, r, http.StatusUnauthorized, "unauthorized")
		return
	}
	switch {
	case p == "/latest/user-data" || p == "/latest/user-data/":
		if s.userData == nil {
			s.fail(w, r, http.StatusNotFound, "not found")
			return
		}
		s.ok(w, r, "application/octet-stream", s.userData)
	case p == "/latest/dynamic/instance-identity/document":
		doc, _ := json.Marshal(map[string]any{
			"accountId": "123456789012", "architecture": "x86_64",
			"availabilityZone": s.cfg.AZ, "imageId": "ami-0123456789abcdef0",
			"instanceId": s.cfg.InstanceID, "instanceType": "t3.micro",
			"privateIp": s.cfg.LocalIPv4, "region": s.cfg.Region, "version": "2017-09-30",
		})
		s.ok(w, r, "application/json", doc)
	case p == "/latest/meta-data/spot/instance-action":
		s.spot(w, r)
	case strings.HasPrefix(p, "/latest/meta-data/") || p == "/latest/meta-data":
		s.metadata(w, r, strings.TrimPrefix(strings.TrimPrefix(p, "/latest/meta-data"), "/"))
	default:
		s.fail(w, r, http.StatusNotFound, "not found")
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/latest/api/token" || r.Method != http.MethodPut {
		s.fail(w, r, http.StatusForbidden, "forbidden")
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		s.fail(w, r, http.StatusForbidden, "forbidden")
		return
	}
	ttlStr := r.Header.Get(TTLHeader)
	ttl, err := strconv.Atoi(ttlStr)
	if err != nil || ttl < 1 || ttl > 21600 {
		s.fail(w, r, http.StatusBadRequest, "bad token TTL")
		return
	}
	tok := s.newToken(time.Duration(ttl) * time.Second)
	w.Header().Set(TTLHeader, ttlStr)
	s.ok(w, r, "text/plain", []byte(tok))
}

func (s *Server) spot(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	since := time.Since(s.start)
	s.mu.Unlock()
	if s.cfg.SpotDelay <= 0 || since < s.cfg.SpotDelay {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	body, _ := json.Marshal(map[string]string{
		"action": s.cfg.SpotAction,
		"time":   time.Now().UTC().Add(2 * time.Minute).Format("2006-01-02T15:04:05Z"),
	})
	s.ok(w, r, "application/json", body)
}

// metadata serves a leaf, or the listing of a directory.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request, rel string) {
	key := strings.TrimSuffix(rel, "/")
	if v, ok := s.leaves[key]; ok && key != "" {
		s.ok(w, r, "text/plain", []byte(v))
		return
	}
	prefix := ""
	if key != "" {
		prefix = key + "/"
	}
	seen := map[string]bool{}
	for k := range s.leaves {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := strings.TrimPrefix(k, prefix)
		if i := strings.Index(rest, "/"); i >= 0 {
			seen[rest[:i+1]] = true
		} else {
			seen[rest] = true
		}
	}
	if key == "" && s.cfg.SpotDelay > 0 {
		seen["spot/"] = true
	}
	if len(seen) == 0 {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	if key == "public-keys" { // EC2 lists keys as index=name
		seen = map[string]bool{"0=test-key": true}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	s.ok(w, r, "text/plain", []byte(strings.Join(names, "\n")))
}
