"""The official Python client's peer of the k8s-client benchmark.

Speaks the harness protocol (benches/harness/src/protocol.rs): key=value
arguments, KUBECONFIG names the cluster, an optional READY line signals an
established watch, the last line is one JSON outcome. Concurrent GETs use a
thread pool sharing one ApiClient whose urllib3 pool holds `c` connections.
"""

import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STARTED = time.perf_counter()

from kubernetes import client, config, watch  # noqa: E402
from kubernetes.watch.watch import iter_resp_lines  # noqa: E402

SENT_ANNOTATION = "bench.k8s-client.io/sent-unix-nanos"


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_kib():
    """VmHWM (the peak resident set) of this process, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def quantiles(lat):
    if not lat:
        return None, None
    lat = sorted(lat)

    def q(p):
        r = min(max(int(-(-p * len(lat) // 1)), 1), len(lat))
        return lat[r - 1]

    return q(0.5), q(0.99)


def latency_ms(cm):
    now = time.time_ns()
    sent = (cm.metadata.annotations or {}).get(SENT_ANNOTATION)
    return (now - int(sent)) / 1e6 if sent else 0.0


def api_for(conc):
    config.load_kube_config()
    cfg = client.Configuration.get_default_copy()
    cfg.connection_pool_maxsize = max(conc, 4)
    api_client = client.ApiClient(cfg)
    api_client.user_agent = "k8s-client-bench/0.0.0 (python)"
    return client.CoreV1Api(api_client)


def run(a):
    scenario = a.get("scenario", "")
    ns = a.get("ns", "bench")
    n = int(a.get("n", "1000"))
    c = int(a.get("c", "16"))
    out = {}
    if scenario == "cold":
        n, c = 1, 1
    v1 = api_for(c)
    if scenario == "list":
        t0 = time.perf_counter()
        lst = v1.list_namespaced_config_map(ns)
        out["in_process_s"] = time.perf_counter() - t0
        out["items"] = len(lst.items)
    elif scenario == "list-paged":
        page = int(a.get("page", "500"))
        t0 = time.perf_counter()
        items, cont = 0, None
        while True:
            kw = {"limit": page}
            if cont:
                kw["_continue"] = cont
            lst = v1.list_namespaced_config_map(ns, **kw)
            items += len(lst.items)
            cont = lst.metadata._continue
            if not cont:
                break
        out["in_process_s"] = time.perf_counter() - t0
        out["items"] = items
    elif scenario in ("get", "exec", "cold"):
        def one(_):
            t = time.perf_counter()
            v1.read_namespaced_config_map("probe", ns)
            return (time.perf_counter() - t) * 1e3

        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=c) as pool:
            lat = list(pool.map(one, range(n)))
        out["in_process_s"] = (time.perf_counter() - (STARTED if scenario == "cold" else t0))
        out["cpu_s"] = cpu_seconds() - cpu0
        out["items"] = len(lat)
        out["p50_ms"], out["p99_ms"] = quantiles(lat)
    elif scenario in ("watch-initial", "watch-live"):
        live = scenario == "watch-live"
        kw = {"resource_version": "0"}
        if live:
            kw["label_selector"] = "run=" + a.get("run", "")
        w = watch.Watch()
        t0 = time.perf_counter()
        resp = v1.list_namespaced_config_map(ns, watch=True, _preload_content=False, **kw)
        if live:
            print("READY", flush=True)
        seen, lat = 0, []
        for line in iter_resp_lines(resp):
            ev = w.unmarshal_event(line, "V1ConfigMap")
            if ev["type"] == "ERROR":
                raise RuntimeError("watch error event: %s" % ev["raw_object"])
            if live and ev["type"] == "ADDED":
                lat.append(latency_ms(ev["object"]))
            seen += 1
            if seen >= n:
                break
        resp.close()
        out["in_process_s"] = time.perf_counter() - t0
        out["items"] = seen
        out["p50_ms"], out["p99_ms"] = quantiles(lat)
    else:
        out["error"] = "unknown scenario %r" % scenario
    return {k: v for k, v in out.items() if v is not None}


def main():
    a = {}
    for w in sys.argv[1:]:
        k, sep, v = w.partition("=")
        if sep:
            a[k] = v
        else:
            a["scenario"] = w
    try:
        out = run(a)
    except Exception as e:  # the harness reports any failure in its table
        out = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}
    out["peak_rss_kib"] = peak_rss_kib()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
