package imdsmock

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTest(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func token(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	code, body := do(t, ts, "PUT", "/latest/api/token", map[string]string{TTLHeader: "60"})
	if code != 200 {
		t.Fatalf("token: %d %s", code, body)
	}
	return body
}

func TestToken(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"ok", "PUT", "/latest/api/token", map[string]string{TTLHeader: "21600"}, 200},
		{"no ttl", "PUT", "/latest/api/token", nil, 400},
		{"ttl zero", "PUT", "/latest/api/token", map[string]string{TTLHeader: "0"}, 400},
		{"ttl too big", "PUT", "/latest/api/token", map[string]string{TTLHeader: "21601"}, 400},
		{"ttl not a number", "PUT", "/latest/api/token", map[string]string{TTLHeader: "x"}, 400},
		{"forwarded", "PUT", "/latest/api/token", map[string]string{TTLHeader: "60", "X-Forwarded-For": "1.2.3.4"}, 403},
		{"GET token", "GET", "/latest/api/token", map[string]string{TTLHeader: "60"}, 403},
		{"other token path", "PUT", "/2021-01-01/api/token", map[string]string{TTLHeader: "60"}, 403},
		{"GET without token", "GET", "/latest/meta-data/instance-id", nil, 401},
		{"GET bad token", "GET", "/latest/meta-data/instance-id", map[string]string{TokenHeader: "nope"}, 401},
	}
	_, ts := newTest(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := do(t, ts, tc.method, tc.path, tc.hdr); code != tc.want {
				t.Errorf("got %d (%s), want %d", code, body, tc.want)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	_, ts := newTest(t, Config{MACs: DefaultMACs[:2], Extra: map[string]string{"tags/instance/Name": "web", "ami-id": ""}})
	tok := token(t, ts)
	h := map[string]string{TokenHeader: tok}
	tests := []struct {
		path     string
		want     int
		contains string
	}{
		{"/latest/meta-data/instance-id", 200, "i-test12345"},
		{"/latest/meta-data/local-hostname", 200, "test-host"},
		{"/latest/meta-data/placement/region", 200, "us-east-1"},
		{"/latest/meta-data/placement/availability-zone", 200, "us-east-1a"},
		{"/latest/meta-data/placement/", 200, "availability-zone\n"},
		{"/latest/meta-data/", 200, "network/"},
		{"/latest/meta-data/network/interfaces/macs/", 200, "52:54:00:12:34:57/"},
		{"/latest/meta-data/network/interfaces/macs/52:54:00:12:34:57/device-number", 200, "1"},
		{"/latest/meta-data/public-keys/", 200, "0=test-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", 200, "ssh-ed25519 "},
		{"/latest/meta-data/block-device-mapping/", 200, "root"},
		{"/latest/meta-data/iam/security-credentials/", 200, "test-instance-role"},
		{"/latest/meta-data/iam/security-credentials/test-instance-role", 200, `"AccessKeyId":"test"`},
		{"/latest/meta-data/tags/instance/Name", 200, "web"},
		{"/latest/meta-data/ami-id", 404, ""},
		{"/latest/meta-data/nope", 404, ""},
		{"/latest/meta-data/spot/instance-action", 404, ""},
		{"/latest/user-data", 404, ""},
		{"/latest/dynamic/instance-identity/document", 200, `"region":"us-east-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body := do(t, ts, "GET", tc.path, h)
			if code != tc.want || !strings.Contains(body, tc.contains) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tc.want, tc.contains)
			}
		})
	}
}

func TestUserData(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		gz   bool
	}{
		{"raw", Config{UserData: []byte("env: []\n")}, false},
		{"gzip", Config{UserData: []byte("env: []\n"), GzipUserData: true}, true},
		{"empty", Config{UserData: []byte{}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newTest(t, tc.cfg)
			code, body := do(t, ts, "GET", "/latest/user-data", map[string]string{TokenHeader: token(t, ts)})
			if code != 200 {
				t.Fatalf("code %d", code)
			}
			got := []byte(body)
			if tc.gz {
				if !bytes.HasPrefix(got, []byte{0x1f, 0x8b}) {
					t.Fatalf("not gzip: %q", got)
				}
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != string(tc.cfg.UserData) {
				t.Errorf("user data %q, want %q", got, tc.cfg.UserData)
			}
		})
	}
}

func TestSpot(t *testing.T) {
	_, ts := newTest(t, Config{SpotDelay: 150 * time.Millisecond})
	h := map[string]string{TokenHeader: token(t, ts)}
	if code, _ := do(t, ts, "GET", "/latest/meta-data/spot/instance-action", h); code != 404 {
		t.Fatalf("before delay: %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	code, body := do(t, ts, "GET", "/latest/meta-data/spot/instance-action", h)
	if code != 200 || !strings.Contains(body, `"action":"terminate"`) {
		t.Fatalf("after delay: %d %s", code, body)
	}
}

func TestFaults(t *testing.T) {
	t.Run("500 first", func(t *testing.T) {
		_, ts := newTest(t, Config{Faults: Faults{Fail500First: 2}})
		for i, want := range []int{500, 500, 200} {
			if code, _ := do(t, ts, "PUT", "/latest/api/token", map[string]string{TTLHeader: "60"}); code != want {
				t.Errorf("request %d: %d, want %d", i, code, want)
			}
		}
	})
	t.Run("drop first", func(t *testing.T) {
		_, ts := newTest(t, Config{Faults: Faults{DropFirst: 1}})
		if code, _ := do(t, ts, "PUT", "/latest/api/token", map[string]string{TTLHeader: "60"}); code != 0 {
			t.Errorf("dropped request answered %d", code)
		}
		if code, _ := do(t, ts, "PUT", "/latest/api/token", map[string]string{TTLHeader: "60"}); code != 200 {
			t.Errorf("second request: %d", code)
		}
	})
	t.Run("delay", func(t *testing.T) {
		_, ts := newTest(t, Config{Faults: Faults{Delay: 100 * time.Millisecond}})
		start := time.Now()
		do(t, ts, "PUT", "/latest/api/token", map[string]string{TTLHeader: "60"})
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
	})
	t.Run("token expiry", func(t *testing.T) {
		s, ts := newTest(t, Config{Faults: Faults{TokenLifetime: 100 * time.Millisecond}})
		h := map[string]string{TokenHeader: token(t, ts)}
		if code, _ := do(t, ts, "GET", "/latest/meta-data/instance-id", h); code != 200 {
			t.Fatalf("fresh token: %d", code)
		}
		time.Sleep(150 * time.Millisecond)
		if code, _ := do(t, ts, "GET", "/latest/meta-data/instance-id", h); code != 401 {
			t.Fatalf("expired token: %d", code)
		}
		if len(s.Log()) != 3 {
			t.Errorf("log has %d lines: %v", len(s.Log()), s.Log())
		}
	})
}

func TestNoRoleNoKey(t *testing.T) {
	_, ts := newTest(t, Config{NoRole: true, NoPublicKey: true})
	h := map[string]string{TokenHeader: token(t, ts)}
	for _, p := range []string{"/latest/meta-data/iam/security-credentials/", "/latest/meta-data/public-keys/"} {
		if code, _ := do(t, ts, "GET", p, h); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}
