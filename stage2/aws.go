package stage2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bootplan/bootplan/internal/imds"
)

// awsRequestTimeout bounds one AWS HTTP request, the response body included (an S3 object is
// at most maxObjectSize); the SDK retries a timed-out request. A variable for tests.
var awsRequestTimeout = 2 * time.Minute

// ErrNoRegion is wrapped by the error returned when no region can be found (AWS_REGION unset
// and IMDS has no placement/region). An optional source treats it as "missing".
var ErrNoRegion = errors.New("no AWS region")

// ErrNoCredentials is wrapped by the error returned when the default credential chain finds
// nothing (no environment credentials and no instance profile). An optional source treats it
// as "missing".
var ErrNoCredentials = errors.New("no AWS credentials")

// AWS hands out the AWS service clients stage two needs. Nothing is created until a step asks
// for a client: a plan without AWS sources never touches the SDK. Safe for concurrent use.
//
//   - Region: AWS_REGION (or AWS_DEFAULT_REGION) when set, else IMDS meta-data/placement/region.
//   - Credentials: the SDK's default chain (environment → shared config → the instance role
//     through the IMDS endpoint of a.IMDS, which stage two takes from the plan).
//   - Endpoints: the SDK's standard AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> variables;
//     S3 uses path-style addressing whenever an endpoint URL is set (moto, MinIO, proxies).
type AWS struct {
	// IMDS is used for the region; nil = imds.FromEnv() on first use.
	IMDS *imds.Client
	// ConfigOptions are appended to config.LoadDefaultConfig's options (tests).
	ConfigOptions []func(*config.LoadOptions) error

	mu     sync.Mutex
	cfg    *aws.Config
	cfgErr error
	s3     *s3.Client
	ssm    *ssm.Client
	sm     *secretsmanager.Client
	ec2    *ec2.Client
}

// NewAWS returns a lazy client set that finds the region through im.
func NewAWS(im *imds.Client) *AWS { return &AWS{IMDS: im} }

// Config returns the shared SDK configuration, loading it on first use. A failure is
// remembered: every later caller gets the same error.
func (a *AWS) Config(ctx context.Context) (aws.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.configLocked(ctx)
}

func (a *AWS) configLocked(ctx context.Context) (aws.Config, error) {
	if a.cfg != nil {
		return *a.cfg, nil
	}
	if a.cfgErr != nil {
		return aws.Config{}, a.cfgErr
	}
	region, err := a.region(ctx)
	if err != nil {
		// Not remembered when the context ended: a later caller may succeed.
		if ctx.Err() == nil {
			a.cfgErr = err
		}
		return aws.Config{}, err
	}
	// Every request has a deadline: the steps have none of their own, and the SDK's default
	// HTTP client waits forever for a server (or proxy) that accepted the connection and
	// never answers, which would leave the boot hanging in silence.
	opts := []func(*config.LoadOptions) error{config.WithRegion(region),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(awsRequestTimeout))}
	if a.IMDS != nil {
		// The instance role comes from the IMDS stage one chose (the plan's imds_endpoint:
		// IPv6 on an IPv6-only subnet), not from the SDK's own reading of the environment.
		opts = append(opts, config.WithEC2IMDSEndpoint(a.IMDS.Endpoint()))
	}
	opts = append(opts, a.ConfigOptions...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		err = fmt.Errorf("loading AWS configuration: %w", err)
		a.cfgErr = err
		return aws.Config{}, err
	}
	// Fetch credentials once now (the instance role through IMDS on EC2), so a missing
	// instance profile is reported as such rather than as an opaque signing error later.
	if cfg.Credentials == nil {
		err = fmt.Errorf("%w: user data config requires an IAM instance profile", ErrNoCredentials)
		a.cfgErr = err
		return aws.Config{}, err
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		err = fmt.Errorf("%w: user data config requires an IAM instance profile: %w", ErrNoCredentials, err)
		if ctx.Err() == nil {
			a.cfgErr = err
		}
		return aws.Config{}, err
	}
	a.cfg = &cfg
	return cfg, nil
}

func (a *AWS) region(ctx context.Context) (string, error) {
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := strings.TrimSpace(os.Getenv(name)); r != "" {
			return r, nil
		}
	}
	if a.IMDS == nil {
		a.IMDS = imds.FromEnv()
	}
	r, err := a.IMDS.GetString(ctx, "meta-data/placement/region")
	if err != nil {
		return "", fmt.Errorf("%w: AWS_REGION is not set and IMDS meta-data/placement/region: %w", ErrNoRegion, err)
	}
	r = strings.TrimSpace(r)
	if r == "" {
		return "", fmt.Errorf("%w: AWS_REGION is not set and IMDS meta-data/placement/region is empty", ErrNoRegion)
	}
	return r, nil
}

// s3PathStyle reports whether an endpoint override is in effect for S3.
func s3PathStyle(cfg aws.Config) bool {
	if cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" {
		return true
	}
	return os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// client returns *slot, creating it from the shared configuration on first use.
func client[T any](ctx context.Context, a *AWS, slot **T, create func(aws.Config) *T) (*T, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	cfg, err := a.configLocked(ctx)
	if err != nil {
		return nil, err
	}
	*slot = create(cfg)
	return *slot, nil
}

// S3 returns the S3 client.
func (a *AWS) S3(ctx context.Context) (*s3.Client, error) {
	return client(ctx, a, &a.s3, func(cfg aws.Config) *s3.Client {
		pathStyle := s3PathStyle(cfg)
		return s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = pathStyle
			o.DisableLogOutputChecksumValidationSkipped = true
		})
	})
}

// SSM returns the SSM client.
func (a *AWS) SSM(ctx context.Context) (*ssm.Client, error) {
	return client(ctx, a, &a.ssm, func(cfg aws.Config) *ssm.Client { return ssm.NewFromConfig(cfg) })
}

// SecretsManager returns the Secrets Manager client.
func (a *AWS) SecretsManager(ctx context.Context) (*secretsmanager.Client, error) {
	return client(ctx, a, &a.sm, func(cfg aws.Config) *secretsmanager.Client { return secretsmanager.NewFromConfig(cfg) })
}

// EC2 returns the EC2 client.
func (a *AWS) EC2(ctx context.Context) (*ec2.Client, error) {
	return client(ctx, a, &a.ec2, func(cfg aws.Config) *ec2.Client { return ec2.NewFromConfig(cfg) })
}
