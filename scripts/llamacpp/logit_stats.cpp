// Compares two files of raw float32 logits (rows of VOCAB floats, as `tokengrid model eval`
// and llamacpp_eval write them), TEST against REFERENCE, row by row, in double precision.
// Prints one JSON object:
//   max_rel_error  the largest over rows of max|test - ref| / max|ref| (the error against the
//                  row's logit scale: logits near zero make an element-wise ratio meaningless)
//   rms_rel_error  over rows of sqrt(mean (test - ref)^2) / sqrt(mean ref^2)
//   kl_mean        mean over rows of KL(softmax(ref) || softmax(test)), in nats
//   top1_agree     fraction of rows whose argmax is the same
//   margin_median  median over rows of REFERENCE's largest logit minus its second largest
//   diff_rms_median  median over rows of sqrt(mean (test - ref)^2), in logits
//   close_rows     fraction of rows whose REFERENCE margin is below twice that row's rms
//                  difference: rows where noise of the test's size can flip the argmax
// Part of scripts/compare_llamacpp.sh; not part of tokengrid's build or CI.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

std::vector<float> read_all(const char* path) {
  std::vector<float> v;
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return v;
  float buf[4096];
  size_t n;
  while ((n = std::fread(buf, sizeof(float), 4096, f)) > 0) v.insert(v.end(), buf, buf + n);
  std::fclose(f);
  return v;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The largest value of row[0..n) minus the second largest.
double top2_margin(const float* row, size_t n) {
  double first = -INFINITY, second = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (row[i] > first) {
      second = first;
      first = row[i];
    } else if (row[i] > second) {
      second = row[i];
    }
  }
  return first - second;
}

// log of the softmax normaliser of row[0..n).
double log_sum_exp(const float* row, size_t n) {
  double m = *std::max_element(row, row + n), s = 0.0;
  for (size_t i = 0; i < n; i++) s += std::exp(row[i] - m);
  return m + std::log(s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s VOCAB TEST.bin REFERENCE.bin\n", argv[0]);
    return 2;
  }
  const size_t vocab = std::strtoul(argv[1], nullptr, 10);
  std::vector<float> test = read_all(argv[2]), ref = read_all(argv[3]);
  if (vocab == 0 || test.empty() || test.size() != ref.size() || test.size() % vocab != 0) {
    std::fprintf(stderr, "logit_stats: %s (%zu floats) and %s (%zu floats) are not the same rows of %zu\n", argv[2],
                 test.size(), argv[3], ref.size(), vocab);
    return 1;
  }
  const size_t rows = test.size() / vocab;
  double max_rel = 0, rms_rel = 0, kl = 0;
  size_t agree = 0, close = 0;
  std::vector<double> margins, diff_rms;
  for (size_t r = 0; r < rows; r++) {
    const float* a = &test[r * vocab];
    const float* b = &ref[r * vocab];
    double max_diff = 0, max_ref = 0, sq_diff = 0, sq_ref = 0, row_kl = 0;
    const double lse_a = log_sum_exp(a, vocab), lse_b = log_sum_exp(b, vocab);
    for (size_t i = 0; i < vocab; i++) {
      const double d = double(a[i]) - b[i];
      max_diff = std::max(max_diff, std::fabs(d));
      max_ref = std::max(max_ref, std::fabs(double(b[i])));
      sq_diff += d * d;
      sq_ref += double(b[i]) * b[i];
      const double log_p = b[i] - lse_b, log_q = a[i] - lse_a;
      row_kl += std::exp(log_p) * (log_p - log_q);
    }
    max_rel = std::max(max_rel, max_diff / std::max(max_ref, 1e-30));
    rms_rel += std::sqrt(sq_diff / std::max(sq_ref, 1e-30));
    kl += row_kl;
    agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
    margins.push_back(top2_margin(b, vocab));
    diff_rms.push_back(std::sqrt(sq_diff / vocab));
    close += margins.back() < 2 * diff_rms.back();
  }
  std::printf("{\"rows\":%zu,\"max_rel_error\":%.3e,\"rms_rel_error\":%.3e,\"kl_mean\":%.4e,\"top1_agree\":%.4f,"
              "\"margin_median\":%.4f,\"diff_rms_median\":%.4f,\"close_rows\":%.4f}\n",
              rows, max_rel, rms_rel / rows, kl / rows, double(agree) / rows, median(margins), median(diff_rms),
              double(close) / rows);
  return 0;
}
