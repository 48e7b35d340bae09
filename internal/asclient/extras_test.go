package asclient

import (
	"context"
	"errors"
	"time"

	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// Calls and predicates only the tests use: the agent needs none of them.

const opShowHook = "show hook"

// ShowHook returns one hook of groupID.
func (c *Client) ShowHook(ctx context.Context, groupID, name string) (Hook, error) {
	var h Hook
	err := c.call(ctx, opShowHook, func(ac *as.AsClient) error {
		resp, err := ac.ShowLifeCycleHook(&model.ShowLifeCycleHookRequest{ScalingGroupId: groupID, LifecycleHookName: name})
		if err != nil {
			return err
		}
		h = Hook{Name: deref(resp.LifecycleHookName)}
		if resp.LifecycleHookType != nil {
			h.Type = resp.LifecycleHookType.Value()
		}
		if resp.DefaultResult != nil {
			h.DefaultResult = resp.DefaultResult.Value()
		}
		if resp.DefaultTimeout != nil {
			h.DefaultTimeout = time.Duration(*resp.DefaultTimeout) * time.Second
		}
		if h.Name == "" {
			h.Name = name
		}
		return nil
	})
	return h, err
}

// ListInstances returns every instance of groupID, page by page.
func (c *Client) ListInstances(ctx context.Context, groupID string) ([]Instance, error) {
	var out []Instance
	err := c.eachInstance(ctx, groupID, func(in Instance) bool { out = append(out, in); return true })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// IsRetryable reports whether err is an AS error that may go away by itself
// (network, 5xx, throttling, AS.0001, AS.0049).
func IsRetryable(err error) bool { k, ok := kindOf(err); return ok && k == KindRetryable }

// IsAuth reports refused credentials, missing permissions, or no credentials
// at all: configuration problems that retrying will not fix.
func IsAuth(err error) bool {
	k, ok := kindOf(err)
	return ok && (k == KindAuth || k == KindPermission || k == KindCredentials)
}

// ErrorCode returns the AS or API gateway error code in err, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
