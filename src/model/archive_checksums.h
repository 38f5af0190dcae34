#pragma once
// The integrity check of a checkpoint file's bytes, before LibTorch reads them.
#include <filesystem>
#include <string_view>

namespace oneshot {

// LibTorch writes checkpoints as ZIP archives whose entries carry a CRC-32,
// but its reader does not check them (a damaged tensor loads as wrong
// numbers). This walks the archive's central directory (PKWARE APPNOTE 6.3,
// 4.3.12-4.3.16; ZIP64 when the sizes need it) and checks the CRC-32 of
// every stored entry; every size and offset is checked against the file's
// length first. Error naming `origin` and the entry when one does not match
// or the directory is damaged.
// The directory must be whole: the end record's entry counts and directory
// size must match the entries walked (a damaged count left entries unchecked).
void verify_archive_checksums(std::string_view bytes, const std::filesystem::path& origin);

// What to do about a damaged checkpoint `path`, in words, by its name:
// best.pt can be restored from a copy or from the run's last.pt (the latest
// weights; best.pt's reader takes them); last.pt from a copy, or a new run
// trained (best.pt still serves evaluate, enroll and classify); any other file
// from a copy. Begins with "restore".
std::string damaged_checkpoint_way_out(const std::filesystem::path& path);

}  // namespace oneshot
