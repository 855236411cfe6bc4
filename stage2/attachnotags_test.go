package stage2

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bootplan/bootplan/plan"
)

// An attachment without tags in a hand-written plan must never take an available volume
// (EC2 would match any volume in the zone): refused before any EC2 call.
func TestAttachByTagsWithoutTagsTakesNothing(t *testing.T) {
	f, c, _ := ec2Fixture(t)
	vol := createVolume(t, f, c, "us-east-1a", map[string]string{"app": "someone-elses"})
	rt := &Runtime{Plan: &plan.Plan{}, Host: f.host, IMDS: f.imds, AWS: NewAWS(f.imds)}
	for _, tags := range [][]plan.Tag{nil, {}} {
		v := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdf", Attachment: &plan.Attachment{TimeoutSeconds: 1, Tags: tags}}
		err := rt.PrepareEBS(f.ctx, v)
		if err == nil || !strings.Contains(err.Error(), "ebs /dev/sdf: attachment without tags refused") {
			t.Fatalf("err = %v\n%s", err, f.logs)
		}
	}
	out, err := c.DescribeVolumes(f.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}})
	if err != nil || len(out.Volumes) != 1 || len(out.Volumes[0].Attachments) != 0 {
		t.Fatalf("the volume was attached: %+v %v", out, err)
	}
}
