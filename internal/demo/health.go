package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ---- 7. after the deploy: is it healthy? ----

func (d *demo) health(ctx context.Context) error {
	s := d.begin("7", "Probe the endpoint in front of the alias; when it turns unhealthy, roll the alias back (health-rollback)")
	url := d.svc.health.URL + "/health"
	var resp proxyResponse
	_ = json.Unmarshal([]byte(d.deployed.Outputs["smoke-response"]), &resp)
	var body struct{ Model string }
	_ = json.Unmarshal([]byte(resp.Body), &body)
	if body.Model == "" {
		return fmt.Errorf("step 7: the deploy's smoke response names no model: %q", d.deployed.Outputs["smoke-response"])
	}
	d.printf("  %s answers for alias %s (a stand-in of the API in front of it)\n", url, alias)
	res, err := d.tool(ctx, s, 0, "health-rollback",
		kv{"url", url},
		kv{"expect-body", `"model":"` + body.Model + `"`},
		kv{"interval", "200ms"},
		kv{"attempts", "5"},
		kv{"successes", "3"},
		kv{"timeout", "2s"},
	)
	if err != nil {
		return err
	}
	if res.Outputs["healthy"] != "true" {
		return fmt.Errorf("step 7: healthy %q, want true", res.Outputs["healthy"])
	}
	s.did("healthy: 3 probes in a row answered 200 with model %s", body.Model)

	d.svc.healthDown.Store(true)
	d.printf("\n  the demo now makes %s answer 503, as when the model's feature store is down\n", url)
	res, err = d.tool(ctx, s, 1, "health-rollback",
		kv{"url", url},
		kv{"expect-body", `"model":"` + body.Model + `"`},
		kv{"interval", "200ms"},
		kv{"attempts", "3"},
		kv{"successes", "2"},
		kv{"timeout", "2s"},
		kv{"function", function},
		kv{"alias", alias},
		kv{"state-file", d.deployed.Outputs["previous-state-file"]},
	)
	if err != nil {
		return err
	}
	a, _ := d.svc.lambda.Alias(function, alias)
	switch {
	case res.Outputs["healthy"] != "false" || res.Outputs["rolled-back"] != "true":
		return fmt.Errorf("step 7: healthy %q, rolled-back %q; want false, true", res.Outputs["healthy"], res.Outputs["rolled-back"])
	case aws.ToString(a.FunctionVersion) != d.deployed.Outputs["previous-version"] || a.RoutingConfig != nil:
		return fmt.Errorf("step 7: alias %s is at %s, want %s (the deploy's previous version)", alias, aws.ToString(a.FunctionVersion), d.deployed.Outputs["previous-version"])
	}
	s.did("unhealthy (503): alias %s rolled back from version %s to %s, the version lambda-deploy recorded", alias, d.deployed.Outputs["version"], res.Outputs["restored-version"])
	return nil
}
