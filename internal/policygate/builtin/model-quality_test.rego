package mlship.model_quality_test

import rego.v1

import data.mlship.model_quality

thresholds := {"min_accuracy": 0.9, "max_fairness_gap": 21, "min_f1": 0.7}

test_good_model_allowed if {
	count(model_quality.deny) == 0 with input as {"accuracy": 0.93, "fairness_gap": 12.5, "f1": 0.8}
		with data.params as thresholds
}

test_low_accuracy_denied if {
	model_quality.deny == {"accuracy 0.85 is below the minimum 0.9"} with input as {"accuracy": 0.85, "fairness_gap": 12.5, "f1": 0.8}
		with data.params as thresholds
}

test_accuracy_at_threshold_allowed if {
	count(model_quality.deny) == 0 with input as {"accuracy": 0.9, "fairness_gap": 21, "f1": 0.7}
		with data.params as thresholds
}

test_fairness_gap_above_max_denied if {
	model_quality.deny == {"fairness_gap 22.5 is above the maximum 21"} with input as {"ACCURACY": "0.95", "EQUAL_OPPORTUNITY_FAIRNESS_PERCENT": 22.5, "f1": 0.9}
		with data.params as thresholds
}

test_metric_names_from_the_pipeline if {
	count(model_quality.deny) == 0 with input as {"ACCURACY": 0.91, "fairnessScoreEqualOpportunity": 20}
		with data.params as {"min_accuracy": "0.9", "max_fairness_gap": "21"}
}

test_missing_metric_denied if {
	some msg in model_quality.deny with input as {"accuracy": 0.95}
		with data.params as {"min_accuracy": 0.9, "min_f1": 0.7}
	startswith(msg, "f1 is missing")
}

test_unset_threshold_not_checked if {
	count(model_quality.deny) == 0 with input as {"accuracy": 0.95, "f1": 0.1}
		with data.params as {"min_accuracy": 0.9}
}

test_no_thresholds_warns if {
	count(model_quality.warn) == 1 with input as {"accuracy": 0.5}
	count(model_quality.deny) == 0 with input as {"accuracy": 0.5}
}

test_checked_lists_compared_metrics if {
	model_quality.checked == {{"name": "accuracy", "value": 0.93, "limit": 0.9, "kind": "min"}} with input as {"accuracy": 0.93}
		with data.params as {"min_accuracy": 0.9}
}
