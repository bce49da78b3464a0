// A self-contained HTML page for a bench run: what was measured on which
// machine, latency against throughput and throughput against the swept
// load as inline SVG, and the full table. No scripts, no network.

#ifndef LOSSCTL_BENCH_HTML_REPORT_H_
#define LOSSCTL_BENCH_HTML_REPORT_H_

#include <string>

#include "bench/report.h"

namespace lossctl::bench {

std::string RenderHtml(const BenchReport& report);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_HTML_REPORT_H_
