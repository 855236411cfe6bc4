package stage2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"

	"github.com/bootplan/bootplan/internal/backoff"
)

// jsonService is an AWS service spoken to with the AWS JSON 1.1 protocol.
type jsonService struct {
	endpointPrefix string // "ssm": https://ssm.<region>.amazonaws.com
	envSuffix      string // AWS_ENDPOINT_URL_<envSuffix>
	signingName    string
	target         string // X-Amz-Target: <target>.<Operation>
}

var (
	ssmService            = jsonService{"ssm", "SSM", "ssm", "AmazonSSM"}
	secretsManagerService = jsonService{"secretsmanager", "SECRETS_MANAGER", "secretsmanager", "secretsmanager"}
)

// maxJSONResponse bounds one response body: an SSM page of 10 parameters of 8 KB each, or a
// 64 KB secret, is far below it.
const maxJSONResponse = 4 << 20

// jsonClient makes the few SSM and Secrets Manager calls the boot needs. The SDK's service
// packages are not linked: they build large schema tables at process start (GODEBUG=
// inittrace=1: ssm/schemas ≈ 130 ms of stage two's start under emulation), which every boot
// would pay for three calls. Credentials, region, HTTP client (with its timeout), signing
// and the retry policy are the SDK's, from the shared configuration.
type jsonClient struct {
	svc      jsonService
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
	retryer  aws.Retryer
}

func newJSONClient(cfg aws.Config, svc jsonService) *jsonClient {
	c := &jsonClient{svc: svc, cfg: cfg, endpoint: jsonEndpoint(cfg, svc), signer: v4.NewSigner()}
	if cfg.Retryer != nil {
		c.retryer = cfg.Retryer()
	} else {
		c.retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			if cfg.RetryMaxAttempts > 0 {
				o.MaxAttempts = cfg.RetryMaxAttempts
			}
		})
	}
	return c
}

// jsonEndpoint is the SDK's order: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL (the
// configuration's base endpoint), then the regional endpoint.
func jsonEndpoint(cfg aws.Config, svc jsonService) string {
	if v := strings.TrimSpace(os.Getenv("AWS_ENDPOINT_URL_" + svc.envSuffix)); v != "" {
		return strings.TrimRight(v, "/")
	}
	if cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" {
		return strings.TrimRight(*cfg.BaseEndpoint, "/")
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(cfg.Region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return "https://" + svc.endpointPrefix + "." + cfg.Region + "." + domain
}

// apiError is a service's error answer; it reads like the SDK's ("api error Code: message")
// and satisfies smithy.APIError, so awsErr and the missing-source checks see the same code.
type apiError struct {
	code, message string
	status        int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("https response error StatusCode: %d, api error %s: %s", e.status, e.code, e.message)
}
func (e *apiError) ErrorCode() string    { return e.code }
func (e *apiError) ErrorMessage() string { return e.message }
func (e *apiError) HTTPStatusCode() int  { return e.status }
func (e *apiError) ErrorFault() smithy.ErrorFault {
	if e.status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// call runs operation op with input in, decoding the answer into out, with the SDK's retries.
func (c *jsonClient) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.once(ctx, op, body, out)
		if err == nil || ctx.Err() != nil || attempt >= c.retryer.MaxAttempts() || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		d, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		if backoff.Sleep(ctx, d) != nil {
			return err
		}
	}
}

func (c *jsonClient) once(ctx context.Context, op string, body []byte, out any) error {
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", c.svc.target+"."+op)
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.svc.signingName, c.cfg.Region, time.Now().UTC()); err != nil {
		return err
	}
	httpc := c.cfg.HTTPClient
	if httpc == nil {
		httpc = http.DefaultClient
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.svc.endpointPrefix, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", c.svc.endpointPrefix, op, err)
	}
	if len(data) > maxJSONResponse {
		return fmt.Errorf("%s %s: answer larger than %d MiB", c.svc.endpointPrefix, op, maxJSONResponse>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeJSONError(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		// jsonErr: a syntax error quotes the answer's text, which may be the secret.
		return fmt.Errorf("%s %s: decoding the answer: %s", c.svc.endpointPrefix, op, jsonErr(err))
	}
	return nil
}

// decodeJSONError reads an AWS JSON error: the code from X-Amzn-ErrorType or __type
// ("prefix#Code:detail" → "Code"), the message from message or Message.
func decodeJSONError(resp *http.Response, data []byte) error {
	var body struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(data, &body) // a body that is not JSON leaves the status as the message
	code := resp.Header.Get("X-Amzn-ErrorType")
	for _, c := range []string{body.Type, body.Code} {
		if code == "" {
			code = c
		}
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	code, _, _ = strings.Cut(code, ":")
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := body.Message
	if msg == "" {
		msg = body.Message2
	}
	return &apiError{code: code, message: msg, status: resp.StatusCode}
}

// ssmParameter is the part of an SSM Parameter the boot reads.
type ssmParameter struct {
	Name  *string `json:"Name"`
	Value *string `json:"Value"`
}

// GetParameter is SSM GetParameter with decryption.
func (c *jsonClient) GetParameter(ctx context.Context, name string) (ssmParameter, error) {
	var out struct {
		Parameter *ssmParameter `json:"Parameter"`
	}
	err := c.call(ctx, "GetParameter", map[string]any{"Name": name, "WithDecryption": true}, &out)
	if err != nil {
		return ssmParameter{}, err
	}
	if out.Parameter == nil {
		return ssmParameter{}, nil
	}
	return *out.Parameter, nil
}

// GetParametersByPath is SSM GetParametersByPath (recursive, decrypted), pages of 10; page
// gets each page in turn. It stops when a page repeats the token it was asked with (as the
// SDK's paginator does).
func (c *jsonClient) GetParametersByPath(ctx context.Context, path string, page func([]ssmParameter) error) error {
	token := ""
	for {
		in := map[string]any{"Path": path, "Recursive": true, "WithDecryption": true, "MaxResults": 10}
		if token != "" {
			in["NextToken"] = token
		}
		var out struct {
			Parameters []ssmParameter `json:"Parameters"`
			NextToken  string         `json:"NextToken"`
		}
		if err := c.call(ctx, "GetParametersByPath", in, &out); err != nil {
			return err
		}
		if err := page(out.Parameters); err != nil {
			return err
		}
		if out.NextToken == "" || out.NextToken == token {
			return nil
		}
		token = out.NextToken
	}
}

// GetSecretValue is Secrets Manager GetSecretValue: the string, else the binary value.
func (c *jsonClient) GetSecretValue(ctx context.Context, id string) (str *string, bin []byte, err error) {
	var out struct {
		SecretString *string `json:"SecretString"`
		SecretBinary []byte  `json:"SecretBinary"` // base64 in JSON
	}
	if err := c.call(ctx, "GetSecretValue", map[string]any{"SecretId": id}, &out); err != nil {
		return nil, nil, err
	}
	return out.SecretString, out.SecretBinary, nil
}
