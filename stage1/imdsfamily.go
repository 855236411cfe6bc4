package stage1

import (
	"context"
	"os"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/plan"
)

// chooseIMDS points b.imds at the address family the network allows: an explicit
// AWS_EC2_METADATA_SERVICE_ENDPOINT wins, then AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (both
// may come from the kernel command line), then IPv4 when DHCPv4 worked, else IPv6.
func (b *boot) chooseIMDS(n plan.Network) {
	have6 := n.IPv6 != nil && len(n.IPv6.Addresses) > 0
	url, note := netconf.ChooseIMDS(os.Getenv(imds.EndpointEnv), os.Getenv(netconf.IMDSModeEnv), n.Address != "", have6)
	if note != "" {
		console.Warnf("imds: %s", note)
	}
	if b.imds == nil || b.imds.Endpoint() != url {
		b.imds = imds.New(url)
	}
	console.Infof("imds: %s", url)
}

// currentIMDS is the IMDS client the boot uses now (chooseIMDS may replace it mid-step).
type currentIMDS struct{ b *boot }

func (c currentIMDS) GetString(ctx context.Context, path string) (string, error) {
	return c.b.imds.GetString(ctx, path)
}
