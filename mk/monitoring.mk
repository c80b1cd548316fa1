# The Prometheus alerting rules in contrib/prometheus: promtool checks them and runs their unit
# tests (tests/prometheus/*.yml: series in, alerts expected out). Part of make test; the end-to-end
# test alert_rules_and_dashboard_query_what_the_exporter_serves checks them, and the Grafana
# dashboard, against a live exporter and Prometheus.
PROMTOOL ?= promtool
RULE_FILES := $(wildcard contrib/prometheus/*.yml)
RULE_TESTS := $(wildcard tests/prometheus/*.yml)

.PHONY: check-rules
check-rules:
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TESTS)
