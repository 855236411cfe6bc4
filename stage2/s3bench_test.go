package stage2

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// TestBenchS3VolumeLatency is the replay benchmark of an S3 prefix volume (make bench,
// BOOTPLAN_BENCH=1): 500 objects of 2 KB in moto behind a proxy adding 25 ms to every request
// (what S3 costs from EC2), downloaded by stage two's s3 volume and, in the same run, by a
// 16-way parallel reference client (list, then GetObject). It prints both times and the
// ratio; it asserts only that every file arrived (no timed assertion).
func TestBenchS3VolumeLatency(t *testing.T) {
	if os.Getenv("BOOTPLAN_BENCH") == "" {
		t.Skip("a benchmark: run with BOOTPLAN_BENCH=1 (make bench)")
	}
	const objects, size, latency = 500, 2048, 25 * time.Millisecond
	f := newFixture(t, imdsmock.Config{})
	f.bucket("bench")
	body := strings.Repeat("x", size)
	for i := 0; i < objects; i++ {
		f.object("bench", fmt.Sprintf("objs/%03d.bin", i), body)
	}
	target, err := url.Parse(motoEndpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(latency)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Setenv("AWS_ENDPOINT_URL", slow.URL)

	// Reference: list, then 16 workers.
	c := newTestS3(testAWSConfig(slow.URL))
	ctx := context.Background()
	refStart := time.Now()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("bench"), Prefix: aws.String("objs/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	refDir := t.TempDir()
	work := make(chan string)
	var wg sync.WaitGroup
	var refErr error
	var mu sync.Mutex
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(k)})
				if err == nil {
					var b []byte
					b, err = io.ReadAll(out.Body)
					out.Body.Close()
					if err == nil {
						err = os.WriteFile(filepath.Join(refDir, filepath.Base(k)), b, 0o644)
					}
				}
				if err != nil {
					mu.Lock()
					refErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	ref := time.Since(refStart)
	if refErr != nil || len(keys) != objects {
		t.Fatalf("reference client: %d keys, %v", len(keys), refErr)
	}

	pl := f.basePlan()
	pl.Volumes = []plan.Volume{{Kind: plan.KindS3, Bucket: "bench", KeyPrefix: "objs/", Destination: "/srv/objs", Mode: 0o644}}
	start := time.Now()
	if _, _, err := f.run(pl); err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	got := time.Since(start)
	ents, err := os.ReadDir(filepath.Join(f.host.Root, "srv/objs"))
	if err != nil || len(ents) != objects {
		t.Fatalf("volume holds %d files (%v), want %d", len(ents), err, objects)
	}
	fmt.Printf("S3 prefix volume, %d objects of %d B, %s per request: bootplan %s, 16-way reference client %s, ratio %.2f×\n",
		objects, size, latency, got.Round(time.Millisecond), ref.Round(time.Millisecond), float64(got)/float64(ref))
}
