package stage2

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/testneed"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// One moto_server per test binary, started on first use and stopped by TestMain.
var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
	motoCmd  *exec.Cmd
)

func TestMain(m *testing.M) {
	code := m.Run()
	if motoCmd != nil && motoCmd.Process != nil {
		_ = motoCmd.Process.Kill()
		done := make(chan struct{})
		go func() { _ = motoCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	os.Exit(code)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startMoto() (string, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("moto_server not found in PATH")
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting moto_server: %w", err)
	}
	motoCmd = cmd
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("moto_server not ready on %s after 10s", url)
}

// needMoto returns the moto endpoint, reset to an empty state. Without moto_server the test
// fails under CI=true and is skipped (loudly) otherwise.
func needMoto(t *testing.T) string {
	t.Helper()
	url := motoEndpoint(t)
	resp, err := http.Post(url+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("moto reset: %v", err)
	}
	resp.Body.Close()
	return url
}

// motoEndpoint starts moto once (see needMoto) without resetting it.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	motoOnce.Do(func() { motoURL, motoErr = startMoto() })
	if motoErr != nil {
		testneed.Missing(t, fmt.Sprintf("replay test: %v — install moto (pip install 'moto[server]') to run it", motoErr))
	}
	return motoURL
}

// fixture is one replay environment: moto, a mock IMDS, a sandbox root, captured console.
type fixture struct {
	t    *testing.T
	ctx  context.Context
	root string
	host *SandboxHost
	imds *imds.Client
	s3   *s3.Client
	ssm  *ssm.Client
	sm   *secretsmanager.Client
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T, imdsCfg imdsmock.Config) *fixture {
	t.Helper()
	return newFixtureWith(t, imdsCfg, needMoto(t))
}

// newFixtureNoReset is newFixture keeping moto's current state.
func newFixtureNoReset(t *testing.T, imdsCfg imdsmock.Config) *fixture {
	t.Helper()
	return newFixtureWith(t, imdsCfg, motoEndpoint(t))
}

func newFixtureWith(t *testing.T, imdsCfg imdsmock.Config, endpoint string) *fixture {
	t.Helper()
	mock, err := imdsmock.New(imdsCfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)

	// The code under test sees only what a machine would: the endpoints, no credentials and
	// no region in the environment (both come from IMDS), no shared config.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv(imds.EndpointEnv, srv.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg := testAWSConfig(endpoint)
	root := t.TempDir()
	host, err := NewSandboxHost(filepath.Join(root, "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	logs := &syncBuffer{}
	prev := console.Output()
	console.SetOutput(logs)
	console.SetDebug(true)
	t.Cleanup(func() { console.SetOutput(prev); console.SetDebug(false) })
	return &fixture{
		t: t, ctx: ctx, root: root, host: host,
		imds: imds.New(srv.URL, imds.WithDeadline(5*time.Second)),
		s3:   newTestS3(cfg),
		ssm:  ssm.NewFromConfig(cfg),
		sm:   secretsmanager.NewFromConfig(cfg),
		logs: logs,
	}
}

// testAWSConfig is how the tests' own clients reach moto (or a proxy in front of it) at
// endpoint: its region and fixed credentials.
func testAWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// newTestS3 is the tests' own S3 client: path-style addressing, the endpoint being a local URL.
func newTestS3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
}

func (f *fixture) bucket(name string) {
	f.t.Helper()
	if _, err := f.s3.CreateBucket(f.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		f.t.Fatalf("create bucket: %v", err)
	}
}

func (f *fixture) object(bucket, key, body string) {
	f.t.Helper()
	if _, err := f.s3.PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		f.t.Fatalf("put object %s: %v", key, err)
	}
}

func (f *fixture) param(name, value string, secure bool) {
	f.t.Helper()
	typ := ssmtypes.ParameterTypeString
	if secure {
		typ = ssmtypes.ParameterTypeSecureString
	}
	if _, err := f.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true)}); err != nil {
		f.t.Fatalf("put parameter %s: %v", name, err)
	}
}

func (f *fixture) secret(id, value string) {
	f.t.Helper()
	if _, err := f.sm.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)}); err != nil {
		f.t.Fatalf("create secret %s: %v", id, err)
	}
}

func (f *fixture) secretBinary(id string, value []byte) {
	f.t.Helper()
	if _, err := f.sm.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretBinary: value}); err != nil {
		f.t.Fatalf("create secret %s: %v", id, err)
	}
}

var _ = smtypes.Filter{}

// file creates a file under the sandbox root.
func (f *fixture) file(p string, mode os.FileMode, content string) {
	f.t.Helper()
	full := filepath.Join(f.host.Root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		f.t.Fatal(err)
	}
}

// read returns a file under the sandbox root.
func (f *fixture) read(p string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.host.Root, p))
	if err != nil {
		f.t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func (f *fixture) mode(p string) os.FileMode {
	f.t.Helper()
	fi, err := os.Stat(filepath.Join(f.host.Root, p))
	if err != nil {
		f.t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// basePlan is a minimal valid plan whose command is /bin/app (created in the root).
func (f *fixture) basePlan() *plan.Plan {
	f.file("/bin/app", 0o755, "#!/bin/sh\necho app\n")
	return &plan.Plan{
		Version: plan.Version,
		Command: plan.Command{Argv: []string{"/bin/app"}, WorkingDir: "/"},
	}
}

func (f *fixture) run(p *plan.Plan) (*Runtime, Cmd, error) {
	f.t.Helper()
	rt := &Runtime{Plan: p, Host: f.host, IMDS: f.imds, AWS: NewAWS(f.imds)}
	cmd, err := Execute(f.ctx, rt)
	return rt, cmd, err
}

func (f *fixture) journal() string { return FormatJournal(f.host.Journal()) }

// noLeak fails when any secret value appears in the logs, the journal or the error.
func (f *fixture) noLeak(err error, secrets ...string) {
	f.t.Helper()
	hay := f.logs.String() + "\n" + f.journal()
	if err != nil {
		hay += "\n" + err.Error()
	}
	if b, rerr := f.host.ReadFile(plan.ReportPath); rerr == nil {
		hay += "\n" + string(b)
	}
	for _, s := range secrets {
		if strings.Contains(hay, s) {
			f.t.Errorf("secret value %q leaked into logs/journal/report/error:\n%s", s, hay)
		}
	}
}

func envMap(env []plan.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}
