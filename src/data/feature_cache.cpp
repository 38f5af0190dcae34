#include "data/feature_cache.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <map>
#include <sstream>

#include "core/clock.h"
#include "audio/decode.h"
#include "audio/logmel.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "data/cache_file.h"
#include "data/half.h"

namespace oneshot {
namespace fs = std::filesystem;

// ---- FeatureSet ------------------------------------------------------------------

FeatureSet FeatureSet::from_vectors(std::vector<float> data, std::size_t n_mels, std::size_t n_frames,
                                    std::vector<int> labels, std::vector<std::string> class_names,
                                    std::vector<std::string> file_names) {
  if (data.size() != labels.size() * n_mels * n_frames)
    throw Error("FeatureSet: " + std::to_string(data.size()) + " values for " + std::to_string(labels.size()) +
                " clips of " + std::to_string(n_mels) + " x " + std::to_string(n_frames));
  auto values = std::make_shared<std::vector<float>>(std::move(data));
  const float* p = values->data();
  return from_storage(std::move(values), p, n_mels, n_frames, std::move(labels), std::move(class_names),
                      std::move(file_names));
}

FeatureSet FeatureSet::from_storage(std::shared_ptr<void> storage, const float* data, std::size_t n_mels,
                                    std::size_t n_frames, std::vector<int> labels,
                                    std::vector<std::string> class_names, std::vector<std::string> file_names) {
  if (!file_names.empty() && file_names.size() != labels.size())
    throw Error("FeatureSet: " + std::to_string(file_names.size()) + " file names for " +
                std::to_string(labels.size()) + " clips");
  for (int label : labels)
    if (label < 0 || static_cast<std::size_t>(label) >= class_names.size())
      throw Error("FeatureSet: label " + std::to_string(label) + " outside the " +
                  std::to_string(class_names.size()) + " class names");
  FeatureSet set;
  set.data_ = data;
  set.storage_ = std::move(storage);
  set.n_mels_ = n_mels;
  set.n_frames_ = n_frames;
  set.labels_ = std::move(labels);
  set.class_names_ = std::move(class_names);
  set.file_names_ = std::move(file_names);
  return set;
}

namespace {

constexpr std::size_t kMaxListed = 50;

std::string bullet_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kMaxListed; ++i) out += "\n  " + items[i];
  if (items.size() > kMaxListed) out += "\n  ... and " + std::to_string(items.size() - kMaxListed) + " more";
  return out;
}

// ---- Cache identity ----------------------------------------------------------------

// The [features] section as canonical "key = value" lines (doubles in their
// shortest round-trip form), so equal parameters always hash equally.
std::string features_text(const FeaturesConfig& config) {
  FeaturesConfig copy = config;
  std::string text;
  copy.visit([&](const char* key, auto& value) {
    using T = std::decay_t<decltype(value)>;
    text += key;
    text += " = ";
    if constexpr (std::is_same_v<T, std::string>) {
      text += "\"" + value + "\"";
    } else {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
      text.append(buf, end);
    }
    text += "\n";
  });
  return text;
}

class Hasher {
 public:
  Hasher() : state_(XXH3_createState(), XXH3_freeState) {
    if (!state_) throw Error("out of memory for a hash state");
    XXH3_64bits_reset(state_.get());
  }
  void add(const void* p, std::size_t n) { XXH3_64bits_update(state_.get(), p, n); }
  void add(const std::string& s) {  // length-prefixed, so ("ab","c") != ("a","bc")
    add_value<std::uint64_t>(s.size());
    add(s.data(), s.size());
  }
  template <class T> void add_value(T v) { add(&v, sizeof v); }
  std::uint64_t digest() const { return XXH3_64bits_digest(state_.get()); }

 private:
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_;
};

// Which dataset subset + labels + parameters: names the cache file.
std::uint64_t identity_hash(const Dataset& dataset, const FeaturesConfig& config) {
  Hasher h;
  h.add(std::string("oneshot-audio feature cache"));
  h.add(features_text(config));
  h.add(dataset.layout);
  for (const auto& name : dataset.class_names) h.add(name);
  for (const auto& clip : dataset.clips) {
    h.add(clip.name);
    h.add_value<std::int32_t>(clip.class_id);
  }
  return h.digest();
}

// The identity plus every file's size and modification time: any edit,
// replacement or touch of a clip changes it.
std::uint64_t content_key(const Dataset& dataset, const FeaturesConfig& config) {
  Hasher h;
  h.add_value(identity_hash(dataset, config));
  for (const auto& clip : dataset.clips) {
    struct stat st {};
    std::int64_t size = -1, mtime_ns = -1;
    if (::stat(clip.path.c_str(), &st) == 0) {
      size = st.st_size;
      mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    }
    h.add_value(size);
    h.add_value(mtime_ns);
  }
  return h.digest();
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Temporary files left by writers that died mid-write (their pid is gone).
void remove_abandoned_temp_files(const fs::path& cache_file) {
  const std::string prefix = cache_file.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(cache_file.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    int pid = 0;
    const char* digits = name.c_str() + prefix.size();
    std::from_chars(digits, name.c_str() + name.size(), pid);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

// Checked before any work, so a read-only dataset copy fails at once
// (the directory itself is created only when the cache is written).
void ensure_writable_directory(const fs::path& dir) {
  std::error_code ec;
  fs::path existing = dir;
  while (!existing.empty() && !fs::exists(existing, ec) && existing.has_parent_path() &&
         existing.parent_path() != existing)
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec) || ::access(existing.c_str(), W_OK | X_OK) != 0)
    throw file_error(dir, "cannot write the feature cache here (" + existing.string() +
                              " is not a writable directory); choose another with --cache DIR");
}

// ---- Building ----------------------------------------------------------------------

struct FileInfo {
  int sample_rate = 0;
  std::size_t frames = 0;
  std::string error;  // "PATH: reason" when the file cannot be used
};

// Pass 1: every clip decoded once at its own rate, so that every bad file is
// known before any feature is computed.
std::vector<FileInfo> check_files(const Dataset& dataset, const CacheOptions& options) {
  const std::size_t n = dataset.clips.size();
  std::vector<FileInfo> info(n);
  Progress progress("checking audio", n, options.progress);
  parallel_for(n, options.jobs, [&](std::size_t i, int) {
    try {
      AudioClip clip = decode_audio(dataset.clips[i].path);
      info[i].sample_rate = clip.file_sample_rate;
      info[i].frames = clip.file_frames;
    } catch (const std::exception& e) {
      info[i].error = e.what();
      if (info[i].error.empty()) info[i].error = dataset.clips[i].path.string() + ": cannot decode";
    }
    progress.advance();
  });
  progress.finish();
  return info;
}

// With features.sample_rate = 0 all clips must share one rate (the most
// common one); with duration 0 too, one length. Lists the odd files.
void require_uniform(const Dataset& dataset, const std::vector<std::size_t>& good, const std::vector<FileInfo>& info,
                     const FeaturesConfig& config) {
  auto check = [&](auto field, const char* what, const char* fix) {
    std::map<std::uint64_t, std::size_t> counts;
    for (std::size_t i : good) ++counts[field(info[i])];
    if (counts.size() <= 1) return;
    const auto common = std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; });
    std::vector<std::string> odd;
    for (std::size_t i : good)
      if (field(info[i]) != common->first)
        odd.push_back(dataset.clips[i].path.string() + ": " + what + " " + std::to_string(field(info[i])) +
                      " (most clips: " + std::to_string(common->first) + ")");
    throw Error(std::to_string(odd.size()) + " clip(s) differ in " + what + "; " + fix + ":" + bullet_list(odd));
  };
  if (config.sample_rate == 0)
    check([](const FileInfo& f) -> std::uint64_t { return static_cast<std::uint64_t>(f.sample_rate); },
          "sample rate", "set features.sample_rate to resample them all");
  if (config.sample_rate == 0 && config.duration == 0)
    check([](const FileInfo& f) -> std::uint64_t { return f.frames; }, "length in samples",
          "set features.duration to crop or pad them all");
}

struct Built {
  std::vector<float> data;
  std::size_t n_mels = 0, n_frames = 0;
};

// Pass 2: decode (resampled, cropped/padded) + log-mel of the good clips,
// one shared extractor, clips spread over the thread pool.
Built compute_features(const Dataset& dataset, const std::vector<std::size_t>& good, const FeaturesConfig& config,
                       int sample_rate, const CacheOptions& options) {
  const DecodeOptions decode{config.sample_rate, config.duration};
  AudioClip first = decode_audio(dataset.clips[good[0]].path, decode);
  const std::size_t n_samples = first.samples.size();
  if (n_samples == 0) throw file_error(dataset.clips[good[0]].path, "decodes to no samples");
  const LogMelExtractor extractor(config, sample_rate);
  Built out;
  out.n_mels = static_cast<std::size_t>(extractor.n_mels());
  out.n_frames = extractor.n_frames(n_samples);
  const std::size_t clip_size = out.n_mels * out.n_frames;
  out.data.resize(good.size() * clip_size);

  Progress progress("log-mel", good.size(), options.progress);
  parallel_for(good.size(), options.jobs, [&](std::size_t j, int) {
    const ClipEntry& entry = dataset.clips[good[j]];
    AudioClip clip = j == 0 ? std::move(first) : decode_audio(entry.path, decode);
    if (clip.samples.size() != n_samples)
      throw file_error(entry.path, "decodes to " + std::to_string(clip.samples.size()) + " samples, the first clip to " +
                                       std::to_string(n_samples) + " (set features.duration to make them equal)");
    extractor.log_mel(clip.samples.data(), n_samples, out.data.data() + j * clip_size);
    progress.advance();
  });
  progress.finish();
  return out;
}

FeatureSet to_feature_set(const CacheContents& c) {
  const CacheHeader& h = c.header;
  return FeatureSet::from_storage(c.storage, c.data, h.n_mels, h.n_frames,
                                  std::vector<int>(h.class_ids.begin(), h.class_ids.end()), h.class_names,
                                  h.file_names);
}

std::vector<BadFile> skipped_of(const CacheHeader& h, const fs::path& root) {
  std::vector<BadFile> out;
  for (std::size_t i = 0; i < h.skipped_names.size(); ++i)
    out.push_back({root / h.skipped_names[i], h.skipped_reasons[i]});
  return out;
}

// Pass 1 result: the usable clips; the others listed in the report and
// header (skip_bad) or thrown as one error naming them all.
std::vector<std::size_t> usable_clips(const Dataset& dataset, const std::vector<FileInfo>& info,
                                      const CacheOptions& options, CacheReport& report, CacheHeader& header) {
  std::vector<std::size_t> good;
  std::vector<std::string> bad;
  for (std::size_t i = 0; i < dataset.clips.size(); ++i) {
    if (info[i].error.empty()) {
      good.push_back(i);
      continue;
    }
    bad.push_back(info[i].error);
    // decode_audio says "PATH: reason"; the report keeps path and reason apart.
    const std::string prefix = dataset.clips[i].path.string() + ": ";
    const std::string reason = info[i].error.starts_with(prefix) ? info[i].error.substr(prefix.size()) : info[i].error;
    report.skipped.push_back({dataset.clips[i].path, reason});
    header.skipped_names.push_back(dataset.clips[i].name);
    header.skipped_reasons.push_back(reason);
  }
  if (!bad.empty() && !options.skip_bad)
    throw Error(std::to_string(bad.size()) + " of " + std::to_string(dataset.clips.size()) +
                " audio file(s) cannot be used; nothing was computed or written (--skip-bad skips them):" +
                bullet_list(bad));
  if (good.empty()) throw file_error(dataset.root, "no usable audio files");
  return good;
}

// Checks every file, computes the features, writes the cache atomically.
FeatureSet build(const Dataset& dataset, const FeaturesConfig& config, const CacheOptions& options,
                 std::uint64_t key, CacheReport& report) {
  ensure_writable_directory(report.cache_file.parent_path());
  CacheHeader header;
  const std::vector<FileInfo> info = check_files(dataset, options);
  const std::vector<std::size_t> good = usable_clips(dataset, info, options, report, header);
  require_uniform(dataset, good, info, config);

  const int sample_rate = config.sample_rate > 0 ? config.sample_rate : info[good[0]].sample_rate;
  Built built = compute_features(dataset, good, config, sample_rate, options);
  header.key = key;
  header.dtype = config.storage == "float16" ? CacheDtype::float16 : CacheDtype::float32;
  // What a later run will read back, so first and later runs see identical values.
  if (header.dtype == CacheDtype::float16)
    for (float& v : built.data) v = half_to_float(float_to_half(v));
  header.n_clips = good.size();
  header.n_mels = built.n_mels;
  header.n_frames = built.n_frames;
  header.features_toml = features_text(config);
  header.class_names = dataset.class_names;
  for (std::size_t i : good) {
    header.file_names.push_back(dataset.clips[i].name);
    header.class_ids.push_back(dataset.clips[i].class_id);
  }
  remove_abandoned_temp_files(report.cache_file);
  write_cache_file(report.cache_file, header, built.data.data());
  return FeatureSet::from_vectors(std::move(built.data), built.n_mels, built.n_frames,
                                  std::vector<int>(header.class_ids.begin(), header.class_ids.end()),
                                  dataset.class_names, header.file_names);
}

}  // namespace

fs::path FeatureCache::path_for(const Dataset& dataset, const FeaturesConfig& config, const CacheOptions& options) {
  const fs::path dir = options.cache_dir.empty() ? dataset.root / ".oneshot-cache" : options.cache_dir;
  return dir / ("features-" + hex(identity_hash(dataset, config)) + ".bin");
}

FeatureSet FeatureCache::load_or_build(const Dataset& dataset, const FeaturesConfig& config,
                                       const CacheOptions& options, CacheReport* report_out) {
  const auto start = std::chrono::steady_clock::now();
  config.validate();
  if (dataset.clips.empty()) throw file_error(dataset.root, "the dataset has no clips");
  CacheReport report;
  report.cache_file = path_for(dataset, config, options);
  const std::uint64_t key = content_key(dataset, config);
  auto finish = [&](FeatureSet set) {
    report.seconds = seconds_since(start);
    if (report_out) *report_out = std::move(report);
    return set;
  };

  std::string problem;
  if (auto cached = read_cache_file(report.cache_file, &problem)) {
    if (cached->header.key != key) {
      problem = "stale: dataset files or feature parameters changed";
    } else if (!cached->header.skipped_names.empty() && !options.skip_bad) {
      problem = "stale: built with skipped files, and skip_bad is off";
    } else {
      report.skipped = skipped_of(cached->header, dataset.root);
      return finish(to_feature_set(*cached));
    }
  }
  report.rebuilt = true;
  report.rebuild_reason = problem;
  return finish(build(dataset, config, options, key, report));
}

}  // namespace oneshot
