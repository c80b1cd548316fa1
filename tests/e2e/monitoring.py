"""monitoring.py - checks of contrib/'s alerting rules and Grafana dashboard against what connwarden
really serves; used by alert_rules_and_dashboard_query_what_the_exporter_serves.sh.

  monitoring.py refs EXPOSITION RULES DASHBOARD
      Every metric name a PromQL expression of the rules or the dashboard (panels and template
      variables) names is one the exposition has, and every label it names (matchers, by/on/
      ignoring lists, label_values, legends, $labels in annotations) is on a sample of a metric that
      expression names, or one Prometheus adds when it scrapes (instance, job).
  monitoring.py live PROMETHEUS_URL RULES DASHBOARD SECONDS
      Against a Prometheus that scrapes the exporter and loaded RULES: every dashboard query, with
      the template variables set to All, parses and returns series; every template variable's
      label_values has values; every rule was evaluated without error. Polls up to SECONDS (rates
      need two scrapes), then names what failed.
Exit status 1 with one line per failure."""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_LABELS = {"instance", "job"}


def rule_exprs(path):
    out = []
    for g in yaml.safe_load(open(path))["groups"]:
        for r in g["rules"]:
            labels = set()
            for text in (r.get("annotations") or {}).values():
                labels |= set(re.findall(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)", text))
            out.append(("rule %s" % (r.get("alert") or r.get("record")), r["expr"], labels))
    return out


def dashboard_exprs(path):
    d = json.load(open(path))
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            legend = set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", t.get("legendFormat", "")))
            out.append(("panel %r %s" % (p["title"], t["refId"]), t["expr"], legend))
    variables = []
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", q)
        assert m, "variable %s: not label_values(SELECTOR, LABEL): %s" % (v["name"], q)
        out.append(("variable %s" % v["name"], m.group(1), {m.group(2)}))
        variables.append((v["name"], m.group(1), m.group(2)))
    return d, out, variables


def expr_labels(expr):
    """Label names an expression names: in matchers and in grouping and matching lists."""
    labels = set(re.findall(r"[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"", expr))
    for lst in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", expr):
        labels |= {x.strip() for x in lst.split(",") if x.strip()}
    return labels


def refs(expo_path, rules, dashboard):
    samples = {}  # sample name -> label names seen on it
    for fam in text_string_to_metric_families(open(expo_path).read()):
        for s in fam.samples:
            samples.setdefault(s.name, set()).update(s.labels)
    _, dash, _ = dashboard_exprs(dashboard)
    problems = []
    for where, expr, extra in rule_exprs(rules) + dash:
        names = set(re.findall(r"\bconnwarden_[a-zA-Z0-9_]+", expr))
        if not names:
            problems.append("%s names no connwarden metric: %s" % (where, expr))
        for n in sorted(names - set(samples)):
            problems.append("%s: %s is not a metric connwarden serves" % (where, n))
        have = set().union(*(samples.get(n, set()) for n in names)) | SCRAPE_LABELS
        for label in sorted((expr_labels(expr) | extra) - have):
            problems.append("%s: no sample of %s has the label %s" % (where, ", ".join(sorted(names)), label))
    return problems


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def live(base, rules, dashboard, seconds):
    d, dash, variables = dashboard_exprs(dashboard)
    subst = {"$__rate_interval": "10s", "${__rate_interval}": "10s"}
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            subst["$" + v["name"]] = v.get("allValue") or ".*"
    def fill(expr):
        for k in sorted(subst, key=len, reverse=True):
            expr = expr.replace(k, subst[k])
        return expr
    deadline = time.time() + seconds
    while True:
        problems = []
        for where, expr, _ in dash:
            if where.startswith("variable"):
                continue
            q = fill(expr)
            try:
                r = get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
            except urllib.error.HTTPError as e:
                problems.append("%s: %s: %s" % (where, q, e.read().decode(errors="replace")))
                continue
            if not r["data"]["result"]:
                problems.append("%s: no series: %s" % (where, q))
        for name, selector, label in variables:
            r = get(base + "/api/v1/label/%s/values?" % label
                    + urllib.parse.urlencode({"match[]": fill(selector)}))
            if not r["data"]:
                problems.append("variable %s: label_values(%s, %s) has no values" % (name, fill(selector), label))
        groups = get(base + "/api/v1/rules")["data"]["groups"]
        nrules = 0
        for g in groups:
            for r in g["rules"]:
                nrules += 1
                if r.get("health") != "ok" or r.get("lastEvaluation", "").startswith("0001"):
                    problems.append("rule %s: health %s %s" % (r["name"], r.get("health"), r.get("lastError", "")))
        want = sum(len(g["rules"]) for g in yaml.safe_load(open(rules))["groups"])
        if nrules != want:
            problems.append("Prometheus loaded %d rules, the file has %d" % (nrules, want))
        if not problems or time.time() > deadline:
            return problems
        time.sleep(0.5)


if __name__ == "__main__":
    if sys.argv[1] == "refs":
        problems = refs(*sys.argv[2:5])
    else:
        problems = live(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
