// Command bench-client-go is the client-go peer of the k8s-client benchmark.
//
// It speaks the harness protocol (benches/harness/src/protocol.rs): arguments
// are key=value words (scenario=list, n=5000, c=16, ...), KUBECONFIG names the
// cluster, an optional READY line signals an established watch, and the last
// line is one JSON outcome.
//
// Client-side throttling is disabled (a fake always-allow rate limiter) unless
// qps=N is given; qps=5 reproduces client-go's default QPS 5 / burst 10.
// By default the typed clientset of this client-go version prefers protobuf
// and asks for gzip; json=1 forces JSON, gzip=0 disables compression.
// scenario=informer runs a shared informer from informers.NewSharedInformerFactory
// in its default configuration.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

const sentAnnotation = "bench.k8s-client.io/sent-unix-nanos"

type outcome struct {
	Items      *uint64  `json:"items,omitempty"`
	InProcessS *float64 `json:"in_process_s,omitempty"`
	P50Ms      *float64 `json:"p50_ms,omitempty"`
	P99Ms      *float64 `json:"p99_ms,omitempty"`
	CPUS       *float64 `json:"cpu_s,omitempty"`
	PeakRSSKiB *uint64  `json:"peak_rss_kib,omitempty"`
	SteadyKiB  *uint64  `json:"steady_rss_kib,omitempty"`
	Error      *string  `json:"error,omitempty"`
}

// peakRSSKiB reads VmHWM (the peak resident set) from /proc/self/status.
func peakRSSKiB() *uint64 { return statusKiB("VmHWM:") }

// rssKiB reads VmRSS (the current resident set) from /proc/self/status.
func rssKiB() *uint64 { return statusKiB("VmRSS:") }

func statusKiB(field string) *uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			if v, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64); err == nil {
				return &v
			}
		}
	}
	return nil
}

func f(v float64) *float64 { return &v }
func u(v uint64) *uint64   { return &v }

type args map[string]string

func (a args) str(k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

func (a args) num(k string, def int) int {
	if v, err := strconv.Atoi(a[k]); err == nil {
		return v
	}
	return def
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func quantiles(lat []float64) (*float64, *float64) {
	if len(lat) == 0 {
		return nil, nil
	}
	sort.Float64s(lat)
	q := func(p float64) float64 {
		r := int(p*float64(len(lat)) + 0.999999999)
		if r < 1 {
			r = 1
		}
		if r > len(lat) {
			r = len(lat)
		}
		return lat[r-1]
	}
	return f(q(0.5)), f(q(0.99))
}

func latencyMs(cm *corev1.ConfigMap) float64 {
	now := time.Now().UnixNano()
	sent, err := strconv.ParseInt(cm.Annotations[sentAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return float64(now-sent) / 1e6
}

func main() {
	started := time.Now()
	a := args{}
	for _, w := range os.Args[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			a[k] = v
		} else {
			a["scenario"] = w
		}
	}
	out, err := run(a, started)
	if err != nil {
		msg := err.Error()
		out = outcome{Error: &msg}
	}
	out.PeakRSSKiB = peakRSSKiB()
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func run(a args, started time.Time) (outcome, error) {
	var out outcome
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return out, err
	}
	if qps := a.num("qps", 0); qps > 0 {
		cfg.QPS = float32(qps)
		cfg.Burst = 2 * qps
	} else {
		cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	}
	if a.str("json", "0") == "1" {
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	}
	cfg.DisableCompression = a.str("gzip", "1") == "0"
	cfg.UserAgent = "k8s-client-bench/0.0.0 (client-go)"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return out, err
	}
	ns := a.str("ns", "bench")
	api := cs.CoreV1().ConfigMaps(ns)
	ctx := context.Background()
	switch sc := a.str("scenario", ""); sc {
	case "list":
		t0 := time.Now()
		list, err := api.List(ctx, metav1.ListOptions{})
		if err != nil {
			return out, err
		}
		out.InProcessS = f(time.Since(t0).Seconds())
		out.Items = u(uint64(len(list.Items)))
	case "list-paged":
		t0 := time.Now()
		var items uint64
		opts := metav1.ListOptions{Limit: int64(a.num("page", 500))}
		for {
			list, err := api.List(ctx, opts)
			if err != nil {
				return out, err
			}
			items += uint64(len(list.Items))
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
		out.InProcessS = f(time.Since(t0).Seconds())
		out.Items = u(items)
	case "get", "exec", "cold":
		n, c := a.num("n", 1000), a.num("c", 16)
		if sc == "cold" {
			n, c = 1, 1
		}
		cpu0 := cpuSeconds()
		t0 := time.Now()
		lat := make([]float64, n)
		jobs := make(chan int)
		var firstErr error
		var errOnce sync.Once
		var wg sync.WaitGroup
		for w := 0; w < c; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					t := time.Now()
					if _, err := api.Get(ctx, "probe", metav1.GetOptions{}); err != nil {
						// Keep draining the jobs so the feeder never blocks.
						errOnce.Do(func() { firstErr = err })
						continue
					}
					lat[i] = float64(time.Since(t).Nanoseconds()) / 1e6
				}
			}()
		}
		for i := 0; i < n; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		if firstErr != nil {
			return out, firstErr
		}
		if sc == "cold" {
			out.InProcessS = f(time.Since(started).Seconds())
		} else {
			out.InProcessS = f(time.Since(t0).Seconds())
		}
		out.CPUS = f(cpuSeconds() - cpu0)
		out.Items = u(uint64(n))
		out.P50Ms, out.P99Ms = quantiles(lat)
	case "watch-initial", "watch-live":
		n := a.num("n", 1)
		live := sc == "watch-live"
		opts := metav1.ListOptions{ResourceVersion: "0"}
		if live {
			opts.LabelSelector = "run=" + a.str("run", "")
		}
		t0 := time.Now()
		w, err := api.Watch(ctx, opts)
		if err != nil {
			return out, err
		}
		defer w.Stop()
		if live {
			fmt.Println("READY")
		}
		var lat []float64
		seen := 0
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				return out, fmt.Errorf("watch error event: %v", ev.Object)
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && live && ev.Type == watch.Added {
				lat = append(lat, latencyMs(cm))
			}
			seen++
			if seen >= n {
				break
			}
		}
		out.InProcessS = f(time.Since(t0).Seconds())
		out.Items = u(uint64(seen))
		out.P50Ms, out.P99Ms = quantiles(lat)
	case "informer":
		// The way a controller starts one: a factory, the informer of the
		// collection with one handler, start, wait for the cache to sync.
		t0 := time.Now()
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		inf := factory.Core().V1().ConfigMaps().Informer()
		var added atomic.Uint64
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { added.Add(1) },
		}); err != nil {
			return out, err
		}
		stop := make(chan struct{})
		factory.Start(stop)
		for typ, ok := range factory.WaitForCacheSync(stop) {
			if !ok {
				return out, fmt.Errorf("the informer of %v stopped before its cache synced", typ)
			}
		}
		out.InProcessS = f(time.Since(t0).Seconds())
		out.Items = u(uint64(len(inf.GetStore().ListKeys())))
		// Steady state: the cache held, the watch open, the handler caught up.
		time.Sleep(time.Second)
		out.SteadyKiB = rssKiB()
		close(stop)
		factory.Shutdown()
		if added.Load() == 0 {
			return out, fmt.Errorf("the handler saw no add")
		}
	default:
		msg := fmt.Sprintf("unknown scenario %q", sc)
		out.Error = &msg
	}
	return out, nil
}
