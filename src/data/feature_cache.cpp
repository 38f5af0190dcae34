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
#include <mutex>
#include <new>
#include <optional>
#include <sstream>

#include "core/clock.h"
#include "audio/audio_reader.h"
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

// What a path that is not a regular file is, in words.
std::string file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
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

// "PATH: reason" from any exception raised while reading `path`.
std::string named_error(const fs::path& path, const std::exception& e) {
  std::string what = e.what();
  if (dynamic_cast<const std::bad_alloc*>(&e)) what = "out of memory";
  if (what.empty()) what = "cannot decode";
  return what.starts_with(path.string() + ": ") ? what : path.string() + ": " + what;
}

// The most common value among the clips not yet refused.
template <class T>
T most_common(const std::vector<T>& values, const std::vector<std::string>& errors) {
  std::map<T, std::size_t> counts;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (errors[i].empty()) ++counts[values[i]];
  return std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

// With features.sample_rate = 0 every clip must have the most common rate:
// read from the headers only (one open each), before any decoding.
int native_rate(const Dataset& dataset, const CacheOptions& options, std::vector<std::string>& errors) {
  const std::size_t n = dataset.clips.size();
  std::vector<int> rates(n, 0);
  parallel_for(n, options.jobs, [&](std::size_t i, int) {
    try {
      rates[i] = AudioReader(dataset.clips[i].path).info().file_sample_rate;
    } catch (const std::exception& e) {
      errors[i] = named_error(dataset.clips[i].path, e);
    }
  });
  if (std::all_of(errors.begin(), errors.end(), [](const std::string& e) { return !e.empty(); })) return 0;
  const int common = most_common(rates, errors);
  for (std::size_t i = 0; i < n; ++i)
    if (errors[i].empty() && rates[i] != common)
      errors[i] = dataset.clips[i].path.string() + ": sample rate " + std::to_string(rates[i]) + " (most clips: " +
                  std::to_string(common) + "); set features.sample_rate to resample them all";
  return common;
}

// Each clip decoded once, its log-mel computed and handed to the cache file
// at once (clip i at slot i). Clips that cannot be used get errors[i].
struct Computed {
  std::vector<float> data;  // n_clips x n_mels x n_frames; bad clips' slots unused
  std::size_t n_mels = 0, n_frames = 0;
};

FeatureSet build(const Dataset& dataset, const FeaturesConfig& config, const CacheOptions& options,
                 std::uint64_t key, CacheReport& report) {
  const fs::path cache_dir = report.cache_file.parent_path();
  ensure_writable_directory(cache_dir);
  std::error_code ec;
  const bool cache_dir_existed = fs::exists(cache_dir, ec);
  const std::size_t n = dataset.clips.size();
  std::vector<std::string> errors(n);

  const int rate = config.sample_rate > 0 ? config.sample_rate : native_rate(dataset, options, errors);
  const DecodeOptions decode{rate, config.duration};
  // The clip length: fixed by features.duration, else the first usable clip's.
  std::size_t n_samples = config.duration > 0 ? duration_samples(config.duration, rate) : 0;
  std::size_t first = n;
  AudioClip first_clip;
  if (n_samples == 0 && rate > 0)
    for (std::size_t i = 0; i < n && first == n; ++i) {
      if (!errors[i].empty()) continue;
      try {
        first_clip = decode_audio(dataset.clips[i].path, decode);
        n_samples = first_clip.samples.size();
        first = i;
      } catch (const std::exception& e) {
        errors[i] = named_error(dataset.clips[i].path, e);
      }
    }

  Computed out;
  std::unique_ptr<CacheFileWriter> writer;
  CacheHeader header;
  header.key = key;
  header.dtype = config.storage == "float16" ? CacheDtype::float16 : CacheDtype::float32;
  header.features_toml = features_text(config);
  header.class_names = dataset.class_names;
  std::optional<LogMelExtractor> extractor;
  if (n_samples > 0) {
    extractor.emplace(config, rate);
    out.n_mels = static_cast<std::size_t>(extractor->n_mels());
    out.n_frames = extractor->n_frames(n_samples);
    out.data.resize(n * out.n_mels * out.n_frames);
    // Written while computing when every clip can be used, the usual case; a
    // run that skips clips writes the compacted set at the end instead.
    if (dataset.problems.empty() && std::all_of(errors.begin(), errors.end(), [](auto& e) { return e.empty(); })) {
      header.n_clips = n;
      header.n_mels = out.n_mels;
      header.n_frames = out.n_frames;
      for (const auto& clip : dataset.clips) {
        header.file_names.push_back(clip.name);
        header.class_ids.push_back(clip.class_id);
      }
      remove_abandoned_temp_files(report.cache_file);
      writer = std::make_unique<CacheFileWriter>(report.cache_file, header);
    }
  }
  const std::size_t clip_size = out.n_mels * out.n_frames;
  bool write_failed = false;
  std::string write_error;
  std::mutex write_mutex;

  Progress progress("decoding + log-mel", n, options.progress);
  if (n_samples > 0)
    parallel_for(n, options.jobs, [&](std::size_t i, int) {
      const ClipEntry& entry = dataset.clips[i];
      if (errors[i].empty()) try {
          AudioClip clip = i == first ? std::move(first_clip) : decode_audio(entry.path, decode);
          if (clip.samples.size() != n_samples) {
            errors[i] = entry.path.string() + ": " +
                        (config.sample_rate == 0 ? "length in samples " : "decodes to samples ") +
                        std::to_string(clip.samples.size()) + " (the first clip: " + std::to_string(n_samples) +
                        "); set features.duration to crop or pad them all";
          } else {
            float* values = out.data.data() + i * clip_size;
            extractor->log_mel(clip.samples.data(), n_samples, values);
            // What a later run reads back, so first and later runs see identical values.
            if (header.dtype == CacheDtype::float16)
              for (std::size_t k = 0; k < clip_size; ++k) values[k] = half_to_float(float_to_half(values[k]));
            if (writer) {
              try {
                writer->write_clip(i, values);
              } catch (const Error& e) {
                std::lock_guard lock(write_mutex);
                if (!write_failed) write_failed = true, write_error = e.what();
              }
            }
          }
        } catch (const std::exception& e) {
          errors[i] = named_error(entry.path, e);
        }
      progress.advance();
    });
  progress.finish();
  if (write_failed) throw Error(write_error);

  // Every problem of the run in one list: the dataset's, then the files'.
  std::vector<std::size_t> good;
  std::vector<std::string> listed;
  std::vector<std::size_t> good_per_class(dataset.class_names.size(), 0), all_per_class(dataset.class_names.size(), 0);
  for (const auto& p : dataset.problems) listed.push_back(p.path.string() + ": " + p.reason);
  for (std::size_t i = 0; i < n; ++i) {
    ++all_per_class[static_cast<std::size_t>(dataset.clips[i].class_id)];
    if (errors[i].empty()) {
      good.push_back(i);
      ++good_per_class[static_cast<std::size_t>(dataset.clips[i].class_id)];
      continue;
    }
    listed.push_back(errors[i]);
    const std::string prefix = dataset.clips[i].path.string() + ": ";
    const std::string reason = errors[i].starts_with(prefix) ? errors[i].substr(prefix.size()) : errors[i];
    report.skipped.push_back({dataset.clips[i].path, reason});
  }
  for (std::size_t c = 0; c < dataset.class_names.size(); ++c)
    if (good_per_class[c] == 0 && all_per_class[c] > 0) {
      report.empty_classes.push_back(dataset.class_names[c]);
      listed.push_back("class \"" + dataset.class_names[c] + "\": none of its " + std::to_string(all_per_class[c]) +
                       " file(s) can be used");
    }
  const std::size_t n_bad = n - good.size();
  if ((!listed.empty() && !options.skip_bad) || good.empty()) {
    writer.reset();  // removes the temporary file
    if (!cache_dir_existed) fs::remove(cache_dir, ec);  // only if empty: nothing of ours is left
    if (good.empty() && listed.empty()) throw file_error(dataset.root, "no usable audio files");
    std::string what = std::to_string(n_bad) + " of " + std::to_string(n) + " audio file(s) cannot be used";
    if (!dataset.problems.empty())
      what += " and " + std::to_string(dataset.problems.size()) + " listed file(s) or folder(s) are unusable";
    throw Error(what + "; nothing was written" + (options.skip_bad ? "" : " (--skip-bad skips them)") + ":" +
                bullet_list(listed));
  }

  if (writer && n_bad == 0) {
    writer->commit();
    return FeatureSet::from_vectors(std::move(out.data), out.n_mels, out.n_frames,
                                    std::vector<int>(header.class_ids.begin(), header.class_ids.end()),
                                    dataset.class_names, header.file_names);
  }
  // Clips were skipped: compact the good ones and write the whole file.
  writer.reset();
  for (std::size_t j = 0; j < good.size(); ++j)
    if (good[j] != j)
      std::copy_n(out.data.data() + good[j] * clip_size, clip_size, out.data.data() + j * clip_size);
  out.data.resize(good.size() * clip_size);
  header.n_clips = good.size();
  header.n_mels = out.n_mels;
  header.n_frames = out.n_frames;
  header.file_names.clear();
  header.class_ids.clear();
  for (std::size_t i : good) {
    header.file_names.push_back(dataset.clips[i].name);
    header.class_ids.push_back(dataset.clips[i].class_id);
  }
  for (std::size_t i = 0, k = 0; i < n; ++i)
    if (!errors[i].empty()) {
      header.skipped_names.push_back(dataset.clips[i].name);
      header.skipped_reasons.push_back(report.skipped[k++].reason);
    }
  remove_abandoned_temp_files(report.cache_file);
  write_cache_file(report.cache_file, header, out.data.data());
  return FeatureSet::from_vectors(std::move(out.data), out.n_mels, out.n_frames,
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

  // The cache is read and written by path: a named pipe there would block
  // the read for ever (until some program writes to it), and a directory or a
  // device cannot be one. Named now, before any work.
  if (struct stat st {}; ::stat(report.cache_file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw file_error(report.cache_file, "is " + file_kind(st.st_mode) +
                                            ", where the feature cache file goes: remove it (the cache is rebuilt), "
                                            "or choose another cache directory with --cache DIR");
  std::string problem = "the dataset has unusable files";
  // Problems the dataset left for this step are listed by build, never hidden by a cache.
  if (!dataset.problems.empty() && !options.skip_bad) {
    report.rebuilt = true;
    report.rebuild_reason = problem;
    return finish(build(dataset, config, options, key, report));
  }
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
