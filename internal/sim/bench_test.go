package sim

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	"github.com/jonboulle/clockwork"
)

// BenchmarkSDKListHookInstances measures one signed hanging-list round trip
// through the official SDK over loopback: the call an agent polls.
func BenchmarkSDKListHookInstances(b *testing.B) {
	s, err := New(Options{AccessKey: testAK, SecretKey: testSK, Clock: clockwork.NewRealClock(), Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	c := (&testSim{Sim: s, srv: srv}).asClient(b, testAK, testSK, "", s.ProjectID())
	req := &model.ListHookInstancesRequest{ScalingGroupId: DefaultGroupID}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.ListHookInstances(req); err != nil {
			b.Fatal(err)
		}
	}
}
