package stage2

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// The SDK's credential chain asks the IMDS the plan names (stage one chose it: IPv6 on an
// IPv6-only subnet), not whatever the environment says: both stages use one endpoint.
func TestAWSCredentialsFromPlanIMDSEndpoint(t *testing.T) {
	mock, err := imdsmock.New(imdsmock.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	// The environment points at a closed port: if the SDK read it, credentials would fail.
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", deadURL)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_REGION", "us-east-1")

	a := NewAWS(imds.New(srv.URL))
	cfg, err := a.Config(context.Background())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID == "" {
		t.Fatal("no access key from the mock's instance role")
	}
	if !strings.Contains(strings.Join(mock.Log(), "\n"), "security-credentials") {
		t.Fatalf("the mock saw no credentials request:\n%s", strings.Join(mock.Log(), "\n"))
	}
}
