// Plots respect their output path (core/atomic_file.h): a symbolic link's
// target is replaced, a named pipe is written through, and a full disk leaves
// the previous figure and no temporary, with an error that says so.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "plot/render.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

void draw_box(plstream& pls) {
  pls.vpor(0.1, 0.9, 0.1, 0.9);
  pls.wind(0, 1, 0, 1);
  pls.box("bcnt", 0, 0, "bcnt", 0, 0);
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(PlotOutputs, SymbolicLinkTargetIsReplacedAndPipeWrittenThrough) {
  test::TempDir dir;
  fs::create_directories(dir / "store");
  write_file_atomic(dir / "store" / "real.png", "stale");
  fs::create_symlink("store/real.png", dir / "box.png");
  ASSERT_EQ(::mkfifo((dir / "box.svg").c_str(), 0644), 0);
  auto svg = std::async(std::launch::async, [&] {
    std::string out;
    const int fd = ::open((dir / "box.svg").c_str(), O_RDONLY);
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    if (fd >= 0) ::close(fd);
    return out;
  });
  render_plot(dir / "box", {200, 150}, {}, draw_box);
  EXPECT_TRUE(fs::is_symlink(dir / "box.png"));
  EXPECT_EQ(read_file(dir / "store" / "real.png").substr(1, 3), "PNG");
  const std::string streamed = svg.get();
  EXPECT_NE(streamed.find("</svg>"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::lstat((dir / "box.svg").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(names_in(dir / "store"), std::vector<std::string>{"real.png"});
}

TEST(PlotOutputs, FullDiskKeepsThePreviousFigureAndNoTemporary) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "small", "256k");
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  std::string error, png, svg;
  std::vector<std::string> names;
  {
    const PlotFiles files = render_plot(mnt / "fig", {200, 150}, {}, draw_box);
    png = read_file(files.png);
    svg = read_file(files.svg);
    // Fill the disk, all but a few bytes.
    {
      const int fd = ::open((mnt / "filler").c_str(), O_WRONLY | O_CREAT, 0644);
      std::string block(4096, 'x');
      while (::write(fd, block.data(), block.size()) > 0) {
      }
      block.assign(1, 'x');
      while (::write(fd, block.data(), 1) > 0) {
      }
      ::close(fd);
    }
    error = test::error_of([&] { render_plot(mnt / "fig", {400, 300}, {}, draw_box); });
    names = names_in(mnt.path());
    EXPECT_EQ(read_file(mnt / "fig.png"), png);
    EXPECT_EQ(read_file(mnt / "fig.svg"), svg);
  }
  mnt.unmount();
  EXPECT_NE(error.find("disk is full"), std::string::npos) << error;
  EXPECT_NE(error.find((mnt / "fig.png").string()), std::string::npos) << error;
  EXPECT_EQ(names, (std::vector<std::string>{"fig.png", "fig.svg", "filler"}));
}

TEST(PlotOutputs, InjectedFullDiskAtCommitKeepsThePreviousFigure) {
  test::TempDir dir;
  render_plot(dir / "fig", {200, 150}, {}, draw_box);
  const std::string png = read_file(dir / "fig.png");
  write_faults::inject(1, write_faults::Action::fail, ENOSPC);  // the png's fsync
  const std::string error = test::error_of([&] { render_plot(dir / "fig", {300, 150}, {}, draw_box); });
  write_faults::inject(0, write_faults::Action::none);
  EXPECT_NE(error.find("disk is full"), std::string::npos) << error;
  EXPECT_EQ(read_file(dir / "fig.png"), png);
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"fig.png", "fig.svg"}));
}

}  // namespace
}  // namespace oneshot
