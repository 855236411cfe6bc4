package vmrun

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// AWSSetup is aws-setup.toml: what moto holds before the VM boots.
type AWSSetup struct {
	Buckets    []Bucket    `toml:"bucket"`
	Parameters []Parameter `toml:"parameter"`
	Secrets    []Secret    `toml:"secret"`
	Volumes    []Volume    `toml:"volume"`
	// Instances: EC2 instances (RunInstances). The id of the first is served by the mock
	// IMDS as meta-data/instance-id (moto's AttachVolume needs an instance it knows).
	Instances []Instance `toml:"instance"`
}

// Instance is an EC2 instance in moto.
type Instance struct {
	AZ string `toml:"az"` // default us-east-1a; the mock IMDS serves the first one's AZ
}

// Seeded is what Seed created: ids in aws-setup.toml order.
type Seeded struct {
	VolumeIDs   []string
	InstanceIDs []string
	InstanceAZs []string
}

// Bucket is an S3 bucket and its objects.
type Bucket struct {
	Name    string   `toml:"name"`
	Objects []Object `toml:"object"`
}

// Object is an S3 object; Content, or File relative to the scenario folder.
type Object struct {
	Key     string `toml:"key"`
	Content string `toml:"content"`
	File    string `toml:"file"`
}

// Parameter is an SSM parameter (type String, SecureString or StringList; default String).
type Parameter struct {
	Name  string `toml:"name"`
	Value string `toml:"value"`
	Type  string `toml:"type"`
}

// Secret is a Secrets Manager secret: Value (SecretString) or Binary (SecretBinary).
type Secret struct {
	Name   string `toml:"name"`
	Value  string `toml:"value"`
	Binary string `toml:"binary"`
}

// Volume is an EC2 volume in state available.
type Volume struct {
	Size int32             `toml:"size"` // GiB, default 1
	AZ   string            `toml:"az"`   // default us-east-1a
	Tags map[string]string `toml:"tags"`
	// Attach: attach the volume to instance 0 under this device name (e.g. "/dev/sdf") while
	// seeding, as a block device mapping would.
	Attach string `toml:"attach"`
}

// Moto is a running moto_server.
type Moto struct {
	Port int
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartMoto starts moto_server on a free loopback port and waits (≤20 s) until it answers.
func StartMoto(ctx context.Context, logPath string) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found in PATH: AWS scenarios need moto (pip install 'moto[server]'); it is not in Debian: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("moto log: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &Moto{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), log: lf}
	go func() { _ = cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-m.done:
			m.Stop()
			return nil, fmt.Errorf("moto_server exited early (see %s)", logPath)
		case <-ctx.Done():
			m.Stop()
			return nil, fmt.Errorf("waiting for moto_server: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("moto_server not ready after 20s (see %s)", logPath)
		}
	}
}

// Stop kills moto and its process group.
func (m *Moto) Stop() {
	if m == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
	}
	m.log.Close()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// awsConfig is the SDK configuration for seeding moto.
func (m *Moto) awsConfig() aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, nil
		}),
		BaseEndpoint: aws.String(m.URL),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
}

// LoadAWSSetup reads an aws-setup.toml.
func LoadAWSSetup(p string) (*AWSSetup, error) {
	var s AWSSetup
	md, err := toml.DecodeFile(p, &s)
	if err != nil {
		return nil, fmt.Errorf("aws setup: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("aws setup %s: unknown keys %v", p, und)
	}
	return &s, nil
}

// Seed creates everything in setup; dir resolves Object.File. It returns the ids of the
// created volumes and instances in order.
func (m *Moto) Seed(ctx context.Context, setup *AWSSetup, dir string) (*Seeded, error) {
	cfg := m.awsConfig()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range setup.Buckets {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.Name)}); err != nil {
			return nil, fmt.Errorf("seed: create bucket %s: %w", b.Name, err)
		}
		for _, o := range b.Objects {
			body := []byte(o.Content)
			if o.File != "" {
				var err error
				if body, err = os.ReadFile(filepath.Join(dir, o.File)); err != nil {
					return nil, fmt.Errorf("seed: object %s: %w", o.Key, err)
				}
			}
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(o.Key), Body: bytes.NewReader(body)}); err != nil {
				return nil, fmt.Errorf("seed: put s3://%s/%s: %w", b.Name, o.Key, err)
			}
		}
	}
	ssmc := ssm.NewFromConfig(cfg)
	for _, p := range setup.Parameters {
		typ := ssmtypes.ParameterTypeString
		if p.Type != "" {
			typ = ssmtypes.ParameterType(p.Type)
		}
		if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(p.Name), Value: aws.String(p.Value), Type: typ, Overwrite: aws.Bool(true)}); err != nil {
			return nil, fmt.Errorf("seed: put parameter %s: %w", p.Name, err)
		}
	}
	smc := secretsmanager.NewFromConfig(cfg)
	for _, s := range setup.Secrets {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(s.Name)}
		if s.Binary != "" {
			in.SecretBinary = []byte(s.Binary)
		} else {
			in.SecretString = aws.String(s.Value)
		}
		if _, err := smc.CreateSecret(ctx, in); err != nil {
			return nil, fmt.Errorf("seed: create secret %s: %w", s.Name, err)
		}
	}
	res := &Seeded{}
	if len(setup.Volumes) == 0 && len(setup.Instances) == 0 {
		return res, nil
	}
	ec2c := ec2.NewFromConfig(cfg)
	for i, in := range setup.Instances {
		az := in.AZ
		if az == "" {
			az = "us-east-1a"
		}
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			Placement: &ec2types.Placement{AvailabilityZone: aws.String(az)},
		})
		if err != nil {
			return nil, fmt.Errorf("seed: run instance %d: %w", i, err)
		}
		if len(out.Instances) != 1 {
			return nil, fmt.Errorf("seed: run instance %d: moto returned %d instances", i, len(out.Instances))
		}
		res.InstanceIDs = append(res.InstanceIDs, aws.ToString(out.Instances[0].InstanceId))
		res.InstanceAZs = append(res.InstanceAZs, az)
	}
	for i, v := range setup.Volumes {
		if v.Size == 0 {
			v.Size = 1
		}
		if v.AZ == "" {
			v.AZ = "us-east-1a"
		}
		in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(v.AZ), Size: aws.Int32(v.Size)}
		if len(v.Tags) > 0 {
			spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeVolume}
			for k, val := range v.Tags {
				spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(val)})
			}
			in.TagSpecifications = []ec2types.TagSpecification{spec}
		}
		out, err := ec2c.CreateVolume(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("seed: create volume %d: %w", i, err)
		}
		id := aws.ToString(out.VolumeId)
		res.VolumeIDs = append(res.VolumeIDs, id)
		if v.Attach != "" {
			if len(res.InstanceIDs) == 0 {
				return nil, fmt.Errorf("seed: volume %d: attach = %q needs an [[instance]]", i, v.Attach)
			}
			if _, err := ec2c.AttachVolume(ctx, &ec2.AttachVolumeInput{Device: aws.String(v.Attach),
				InstanceId: aws.String(res.InstanceIDs[0]), VolumeId: aws.String(id)}); err != nil {
				return nil, fmt.Errorf("seed: attach volume %d (%s) as %s: %w", i, id, v.Attach, err)
			}
		}
	}
	return res, nil
}

// WaitAttached polls moto every 200 ms until volume id shows an attachment (any state), and
// returns its instance and device. It gives up when ctx ends.
func (m *Moto) WaitAttached(ctx context.Context, id string) (instance, device string, err error) {
	c := ec2.NewFromConfig(m.awsConfig(), func(o *ec2.Options) { o.HTTPClient = &http.Client{Timeout: 5 * time.Second} })
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
		if err == nil {
			for _, v := range out.Volumes {
				if len(v.Attachments) > 0 {
					a := v.Attachments[0]
					return aws.ToString(a.InstanceId), aws.ToString(a.Device), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return "", "", fmt.Errorf("volume %s not attached (last: %w): %w", id, err, ctx.Err())
			}
			return "", "", fmt.Errorf("volume %s not attached: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// VolumeSerial turns a volume id into the NVMe serial EBS reports ("vol-0ab" → "vol0ab").
func VolumeSerial(id string) string { return strings.Replace(id, "vol-", "vol", 1) }
