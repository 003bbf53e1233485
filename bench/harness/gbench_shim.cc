// Implementation of gbench.h over Google Benchmark's C++ API. Every C++
// exception stops here; nothing C++ crosses into the C harness.
#include "harness/gbench.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

// Defined by Google Benchmark (its --benchmark_enable_random_interleaving
// flag) and exported by the library, but not declared in its header.
namespace benchmark {
extern bool FLAGS_benchmark_enable_random_interleaving;
}

struct jb_gb_state {
    benchmark::State *st;
};

namespace {

// Forwards each run to the C callback, with the context of the benchmark it
// belongs to (by family index: the order of registration); prints nothing.
class ForwardingReporter : public benchmark::BenchmarkReporter {
public:
    ForwardingReporter(jb_gb_report_fn fn, void *const *ctxs, size_t n) : fn_(fn), ctxs_(ctxs), n_(n) {}
    bool ReportContext(const Context &) override { return true; }
    void ReportRuns(const std::vector<Run> &runs) override
    {
        for (const Run &r : runs) {
            std::string name = r.benchmark_name();
            std::string run_name = r.run_name.str();
            std::vector<const char *> names;
            std::vector<double> values;
            for (const auto &kv : r.counters) {
                names.push_back(kv.first.c_str());
                values.push_back(kv.second.value);
            }
            jb_gb_run out;
            std::memset(&out, 0, sizeof out);
            out.name = name.c_str();
            out.run_name = run_name.c_str();
            out.is_aggregate = r.run_type == Run::RT_Aggregate;
            out.aggregate_name = r.aggregate_name.c_str();
            out.aggregate_is_percentage = r.aggregate_unit == benchmark::kPercentage;
            out.error_occurred = r.error_occurred;
            out.error_message = r.error_message.c_str();
            out.label = r.report_label.c_str();
            out.family_index = r.family_index;
            out.per_family_instance_index = r.per_family_instance_index;
            out.iterations = r.iterations;
            out.threads = r.threads;
            out.repetitions = r.repetitions;
            out.repetition_index = r.repetition_index;
            // Adjusted times are in the run's time unit (ns, as registered);
            // a percentage aggregate (cv) holds the ratio itself, unadjusted,
            // as Google Benchmark's JSON reporter writes it.
            bool pct = r.run_type == Run::RT_Aggregate && r.aggregate_unit == benchmark::kPercentage;
            out.real_time_ns = pct ? r.real_accumulated_time : r.GetAdjustedRealTime();
            out.cpu_time_ns = pct ? r.cpu_accumulated_time : r.GetAdjustedCPUTime();
            out.ncounters = static_cast<int>(names.size());
            out.counter_names = names.data();
            out.counter_values = values.data();
            if (r.family_index >= 0 && static_cast<size_t>(r.family_index) < n_)
                fn_(&out, ctxs_[r.family_index]);
        }
    }

private:
    jb_gb_report_fn fn_;
    void *const *ctxs_;
    size_t n_;
};

}  // namespace

extern "C" void jb_gb_init(const char *argv0)
{
    // Initialize parses flags; give it only the program name so the
    // joulebench command line stays ours.
    static std::string name;
    name = argv0 ? argv0 : "joulebench";
    static char *argv[2] = {&name[0], nullptr};
    int argc = 1;
    benchmark::Initialize(&argc, argv);
}

extern "C" int jb_gb_run_group(size_t n, const char *const names[], jb_gb_body body, void *const args[],
                               const jb_gb_options *opt, int interleave, jb_gb_report_fn report, void *const ctxs[])
{
    try {
        benchmark::ClearRegisteredBenchmarks();
        for (size_t i = 0; i < n; i++) {
            void *arg = args[i];
            auto *b = benchmark::RegisterBenchmark(names[i], [body, arg](benchmark::State &st) {
                jb_gb_state s{&st};
                body(&s, arg);
            });
            b->UseManualTime()->Unit(benchmark::kNanosecond);
            if (opt) {
                const bool fixed = opt->iterations && opt->iterations[i] > 0;
                if (opt->repetitions > 0)
                    b->Repetitions(opt->repetitions);
                if (fixed) // Google Benchmark takes a count or a min time, not both
                    b->Iterations(opt->iterations[i]);
                else if (opt->min_time > 0)
                    b->MinTime(opt->min_time);
                if (opt->min_warmup_time > 0)
                    b->MinWarmUpTime(opt->min_warmup_time);
            }
        }
        // Google Benchmark's own random interleaving: every repetition of
        // every registered benchmark, in one shuffled order.
        const bool saved = benchmark::FLAGS_benchmark_enable_random_interleaving;
        benchmark::FLAGS_benchmark_enable_random_interleaving = interleave != 0;
        ForwardingReporter rep(report, ctxs, n);
        // Only this group is registered, so no filter is needed.
        benchmark::RunSpecifiedBenchmarks(&rep, ".*");
        benchmark::FLAGS_benchmark_enable_random_interleaving = saved;
        benchmark::ClearRegisteredBenchmarks();
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int jb_gb_run_one(const char *name, jb_gb_body body, void *arg, const jb_gb_options *opt,
                             jb_gb_report_fn report, void *ctx)
{
    return jb_gb_run_group(1, &name, body, &arg, opt, 0, report, &ctx);
}

extern "C" int jb_gb_keep_running(jb_gb_state *s)
{
    return s->st->KeepRunning() ? 1 : 0;
}

extern "C" void jb_gb_set_iteration_time(jb_gb_state *s, double seconds)
{
    s->st->SetIterationTime(seconds);
}

extern "C" void jb_gb_set_counter(jb_gb_state *s, const char *name, double value)
{
    s->st->counters[name] = benchmark::Counter(value);
}

extern "C" void jb_gb_set_label(jb_gb_state *s, const char *label)
{
    s->st->SetLabel(label);
}

extern "C" void jb_gb_skip_with_error(jb_gb_state *s, const char *msg)
{
    s->st->SkipWithError(msg);
}

extern "C" int64_t jb_gb_max_iterations(const jb_gb_state *s)
{
    return s->st->max_iterations;
}

extern "C" void jb_gb_sysinfo_get(jb_gb_sysinfo *out)
{
    std::memset(out, 0, sizeof *out);
    const benchmark::CPUInfo &ci = benchmark::CPUInfo::Get();
    out->num_cpus = ci.num_cpus;
    out->mhz_per_cpu = ci.cycles_per_second / 1e6;
    out->scaling = ci.scaling == benchmark::CPUInfo::ENABLED ? 1 : ci.scaling == benchmark::CPUInfo::DISABLED ? 0 : -1;
    for (const auto &c : ci.caches) {
        if (out->ncaches >= 8)
            break;
        jb_gb_cache &o = out->caches[out->ncaches++];
        std::strncpy(o.type, c.type.c_str(), sizeof o.type - 1);
        o.level = c.level;
        o.size = c.size;
        o.num_sharing = c.num_sharing;
    }
    for (size_t i = 0; i < 3 && i < ci.load_avg.size(); i++)
        out->load_avg[i] = ci.load_avg[i];
}
