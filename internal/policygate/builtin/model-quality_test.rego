package mlship.model_quality_test

import rego.v1

import data.mlship.model_quality

thresholds := {"min_accuracy": 0.9, "max_fairness_gap": 21, "min_f1": 0.7}

# Values that are not finite numbers, as they arrive from metric files and
# step outputs. None may pass a threshold.
not_numbers := ["NaN", "93%", "N/A", "", true, false, [0.1], "Inf", "-Inf", "Infinity", null, {"value": 0.95}, "0.95 ", "1e5x"]

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
	model_quality.deny == {`f1 is missing from the input (one of ["f1", "F1", "f1_score", "F1_SCORE", "f1Score"])`} with input as {"accuracy": 0.95}
		with data.params as {"min_accuracy": 0.9, "min_f1": 0.7}
}

test_unset_threshold_not_checked if {
	count(model_quality.deny) == 0 with input as {"accuracy": 0.95, "f1": 0.1}
		with data.params as {"min_accuracy": 0.9}
}

test_no_thresholds_checks_nothing if {
	count(model_quality.deny) == 0 with input as {"accuracy": 0.5}
	count(model_quality.checked) == 0 with input as {"accuracy": 0.5}
}

test_checked_lists_compared_metrics if {
	model_quality.checked == {{"name": "accuracy", "value": 0.93, "limit": 0.9, "kind": "min"}} with input as {"accuracy": 0.93}
		with data.params as {"min_accuracy": 0.9}
}

test_minimum_denies_every_non_number if {
	every v in not_numbers {
		model_quality.deny == {sprintf("accuracy is %s, not a number", [json.marshal(v)])} with input as {"accuracy": v}
			with data.params as {"min_accuracy": 0.9}
		count(model_quality.checked) == 0 with input as {"accuracy": v}
			with data.params as {"min_accuracy": 0.9}
	}
}

test_maximum_denies_every_non_number if {
	every v in not_numbers {
		model_quality.deny == {sprintf("fairness_gap is %s, not a number", [json.marshal(v)])} with input as {"EQUAL_OPPORTUNITY_FAIRNESS_PERCENT": v}
			with data.params as {"max_fairness_gap": 21}
	}
}

test_numeric_strings_are_numbers if {
	model_quality.deny == {"accuracy 0.85 is below the minimum 0.9", "f1 0.1 is below the minimum 0.7"} with input as {"accuracy": "0.85", "f1": "1e-1"}
		with data.params as {"min_accuracy": 0.9, "min_f1": 0.7}
}

test_threshold_that_is_not_a_number_denies if {
	model_quality.deny == {`parameter min_accuracy is "high", not a number`} with input as {"accuracy": 0.95}
		with data.params as {"min_accuracy": "high"}
}

test_named_input_metrics if {
	model_quality.deny == {"accuracy 0.85 is below the minimum 0.9"} with input as {"metrics": {"accuracy": 0.85}, "scan": {"critical": 0}}
		with data.params as {"min_accuracy": 0.9}
}

test_named_input_that_is_not_an_object if {
	model_quality.deny == {`input.metrics is [0.95], not an object of metrics`} with input as {"metrics": [0.95]}
		with data.params as {"min_accuracy": 0.9}
}

test_input_that_is_not_an_object if {
	model_quality.deny == {"the input is not an object of metrics"} with input as [0.95]
		with data.params as {"min_accuracy": 0.9}
}
