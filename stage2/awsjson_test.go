package stage2

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

// The JSON client signs, names the operation, follows NextToken page by page, stops on a
// repeated token, and turns error answers into the SDK's code and message.
func TestJSONClientPagesAndErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AK/") {
			t.Errorf("unsigned request: %q", r.Header.Get("Authorization"))
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch target := r.Header.Get("X-Amz-Target"); target {
		case "AmazonSSM.GetParametersByPath":
			switch in["NextToken"] {
			case nil:
				_, _ = w.Write([]byte(`{"Parameters":[{"Name":"/a/1","Value":"x"}],"NextToken":"t1"}`))
			case "t1":
				_, _ = w.Write([]byte(`{"Parameters":[{"Name":"/a/2","Value":"y"}],"NextToken":"t1"}`))
			default:
				t.Errorf("unexpected token %v", in["NextToken"])
			}
		case "AmazonSSM.GetParameter":
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"no /p"}`))
		case "secretsmanager.GetSecretValue":
			_, _ = w.Write([]byte(`{"SecretBinary":"AAEC"}`))
		default:
			t.Errorf("unexpected target %q", target)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")}
	ctx := context.Background()
	ssmc := newJSONClient(cfg, ssmService)
	var names []string
	if err := ssmc.GetParametersByPath(ctx, "/a", func(ps []ssmParameter) error {
		for _, p := range ps {
			names = append(names, *p.Name+"="+*p.Value)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "/a/1=x,/a/2=y" || calls.Load() != 2 {
		t.Fatalf("pages gave %q in %d calls; want /a/1=x,/a/2=y in 2", got, calls.Load())
	}
	_, err := ssmc.GetParameter(ctx, "/p")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ParameterNotFound" || awsErr(err) != "ParameterNotFound: no /p" {
		t.Fatalf("error %v (awsErr %q); want code ParameterNotFound, message no /p", err, awsErr(err))
	}
	_, bin, err := newJSONClient(cfg, secretsManagerService).GetSecretValue(ctx, "s")
	if err != nil || string(bin) != "\x00\x01\x02" {
		t.Fatalf("secret binary %q, %v", bin, err)
	}
}

func TestJSONEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_SSM", "")
	for _, c := range []struct {
		cfg  aws.Config
		env  string
		want string
	}{
		{aws.Config{Region: "us-east-1"}, "", "https://ssm.us-east-1.amazonaws.com"},
		{aws.Config{Region: "cn-north-1"}, "", "https://ssm.cn-north-1.amazonaws.com.cn"},
		{aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://moto:5000/")}, "", "http://moto:5000"},
		{aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://moto:5000")}, "http://ssm.local", "http://ssm.local"},
	} {
		t.Setenv("AWS_ENDPOINT_URL_SSM", c.env)
		if got := jsonEndpoint(c.cfg, ssmService); got != c.want {
			t.Errorf("jsonEndpoint(%v, env %q) = %q, want %q", c.cfg.Region, c.env, got, c.want)
		}
	}
}

// An answer that does not decode (a proxy or stand-in endpoint that sends a value as a
// number, say) is an error that never quotes the answer: it holds the secret.
func TestJSONClientDecodeErrorHidesValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSSM.GetParameter":
			_, _ = w.Write([]byte(`{"Parameter":{"Name":"/p","Value":918273645}}`))
		default:
			_, _ = w.Write([]byte(`{"SecretString":"a",918273645}`))
		}
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")}
	_, err := newJSONClient(cfg, ssmService).GetParameter(context.Background(), "/p")
	if err == nil || strings.Contains(err.Error(), "918273645") {
		t.Errorf("GetParameter with a number value: error %v; want one without the value", err)
	}
	_, _, err = newJSONClient(cfg, secretsManagerService).GetSecretValue(context.Background(), "s")
	if err == nil || strings.Contains(err.Error(), "918273645") || strings.Contains(err.Error(), "'9'") {
		t.Errorf("GetSecretValue with a malformed answer: error %v; want one without any of it", err)
	}
}
