// Frame ranges and chunking for job compilers (spec §11 "shared helpers").
//
// Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duende::jobs {

// Upper bound on the number of frames one frame-range setting may expand to;
// larger ranges are rejected instead of exhausting memory.
inline constexpr int kMaxFrames = 1'000'000;

// Parses "1-10,15,20-30" into a sorted list of unique frame numbers.
// Items are separated by commas; each is a frame "N" or an inclusive range
// "A-B" with A <= B. Spaces around items and around '-' are allowed.
//
// Negative frame numbers are rejected: with '-' as the range separator,
// "-5--1" is ambiguous to read and v2's compilers never supported them either
// (Blender allows negative frames, but farms render from 0 or 1 upwards).
//
// Errors (InvalidArgument, message says what and where): empty string, empty
// item ("1,,2"), non-numeric ("a"), incomplete range ("1-", "-3"), reversed
// range ("5-1"), numbers above 2^31-1, more than kMaxFrames frames in total.
Result<std::vector<int>> ParseFrameRange(std::string_view spec);

// Splits `frames` (in the given order) into consecutive slices of
// `chunk_size` frames; the last may be shorter. Requires chunk_size >= 1
// (InvalidArgument otherwise). Empty input gives no chunks.
Result<std::vector<std::vector<int>>> ChunkFrames(const std::vector<int>& frames, int chunk_size);

// Formats a sorted list of frames compactly: runs of three or more
// consecutive frames become "A<sep>B", shorter runs are listed individually,
// items are comma-separated. Examples with sep "-": {1..10} -> "1-10",
// {3,4} -> "3,4", {1,2,3,7,9,10} -> "1-3,7,9,10".
std::string FormatFrameRange(const std::vector<int>& frames, std::string_view range_separator);

// Task-name form ("1-10") and Blender command form ("1..10").
inline std::string FrameRangeForName(const std::vector<int>& frames) { return FormatFrameRange(frames, "-"); }
inline std::string FrameRangeForBlender(const std::vector<int>& frames) { return FormatFrameRange(frames, ".."); }

}  // namespace duende::jobs
