package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	"github.com/jonboulle/clockwork"
)

// The official SDK is the oracle: these helpers drive the simulator with
// AS v1 clients signed by the SDK's own signer. The SDK stamps X-Sdk-Date
// from the real clock, so SDK tests start the fake clock at the real time
// and advance it by less than the 15-minute skew the gateway allows.

// newSDKSim starts a simulator whose fake clock starts at the real time.
func newSDKSim(t *testing.T, opts ...func(*Options)) *testSim {
	t.Helper()
	return newTestSim(t, append([]func(*Options){func(o *Options) {
		o.Clock = clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
	}}, opts...)...)
}

// clock returns the simulator's fake clock.
func (ts *testSim) fake() *clockwork.FakeClock { return ts.Sim.clock.(*clockwork.FakeClock) }

// asClient builds an SDK AS client for the simulator with explicit AK, SK,
// optional security token and project: never empty ones, which would make
// the SDK ask the real metadata service or IAM.
func (ts *testSim) asClient(t testing.TB, ak, sk, token, project string) *as.AsClient {
	t.Helper()
	b := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(project)
	if token != "" {
		b = b.WithSecurityToken(token)
	}
	cred, err := b.SafeBuild()
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	hc, err := as.AsClientBuilder().
		WithEndpoints([]string{ts.srv.URL}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithTimeout(10 * time.Second)).
		SafeBuild()
	if err != nil {
		t.Fatalf("AS client: %v", err)
	}
	return as.NewAsClient(hc)
}

// client is an SDK client with the simulator's permanent test AK/SK.
func (ts *testSim) client(t *testing.T) *as.AsClient {
	return ts.asClient(t, testAK, testSK, "", ts.ProjectID())
}

// wantSDKError checks that err is the SDK's service error with the status
// and code.
func wantSDKError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want *sdkerr.ServiceResponseError %d %s", err, err, status, code)
	}
	if se.StatusCode != status || se.ErrorCode != code {
		t.Errorf("got %d %s (%s), want %d %s", se.StatusCode, se.ErrorCode, se.ErrorMessage, status, code)
	}
}

func ptr[T any](v T) *T { return &v }

// createHook creates a hook with the SDK.
func createHook(c *as.AsClient, group, name string, typ model.CreateLifeCycleHookOptionLifecycleHookType,
	result model.CreateLifeCycleHookOptionDefaultResult, timeout int32) (*model.CreateLifyCycleHookResponse, error) {
	return c.CreateLifyCycleHook(&model.CreateLifyCycleHookRequest{
		ScalingGroupId: group,
		Body: &model.CreateLifeCycleHookOption{
			LifecycleHookName: name, LifecycleHookType: typ, DefaultResult: &result, DefaultTimeout: &timeout,
			NotificationTopicUrn: "urn:smn:cn-north-4:" + DefaultProjectID + ":hooks",
		},
	})
}

// callback answers a hook with the SDK, by action key when key is set,
// otherwise by instance and hook.
func callback(c *as.AsClient, group, key, instanceID, hook, result string) error {
	var res model.CallbackLifeCycleHookOptionLifecycleActionResult
	if err := res.UnmarshalJSON([]byte(`"` + result + `"`)); err != nil {
		return err
	}
	body := &model.CallbackLifeCycleHookOption{LifecycleActionResult: res}
	if key != "" {
		body.LifecycleActionKey = &key
	} else {
		body.InstanceId, body.LifecycleHookName = &instanceID, &hook
	}
	_, err := c.AttachCallbackInstanceLifeCycleHook(&model.AttachCallbackInstanceLifeCycleHookRequest{ScalingGroupId: group, Body: body})
	return err
}

// hanging lists a group's hanging records with the SDK; instanceID may be empty.
func hangingList(t *testing.T, c *as.AsClient, group, instanceID string) []model.InstanceHangingInfos {
	t.Helper()
	req := &model.ListHookInstancesRequest{ScalingGroupId: group}
	if instanceID != "" {
		req.InstanceId = &instanceID
	}
	resp, err := c.ListHookInstances(req)
	if err != nil {
		t.Fatalf("ListHookInstances: %v", err)
	}
	if resp.InstanceHangingInfo == nil {
		return nil
	}
	return *resp.InstanceHangingInfo
}

// instanceStates lists a group's instances with the SDK as id -> life_cycle_state.
func instanceStates(t *testing.T, c *as.AsClient, group string) map[string]string {
	t.Helper()
	resp, err := c.ListScalingInstances(&model.ListScalingInstancesRequest{ScalingGroupId: group})
	if err != nil {
		t.Fatalf("ListScalingInstances: %v", err)
	}
	out := map[string]string{}
	for _, in := range *resp.ScalingGroupInstances {
		out[*in.InstanceId] = in.LifeCycleState.Value()
	}
	return out
}
