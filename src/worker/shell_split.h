// POSIX shell-word splitting for command lines in task settings
// (`exec.cmd`, `blender_render.blender_cmd`, `create_video.ffmpeg_cmd`).
//
// Supported, as a POSIX shell (and Python's shlex.split, which Flamenco v2
// uses) would: blanks (space, tab, newline) separate words; 'single quotes'
// keep everything literally; "double quotes" keep everything but let a
// backslash escape $ ` " \ and newline; an unquoted backslash escapes the next
// character (backslash-newline is a line continuation). Adjacent quoted and
// unquoted parts join into one word; "" yields an empty word.
//
// Not supported (no shell is involved): variable expansion, globbing,
// command substitution, comments, redirections. Those characters are kept
// literally.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duende::worker {

// Splits `line` into words. Errors (InvalidArgument): unterminated quote,
// trailing unescaped backslash.
Result<std::vector<std::string>> ShellSplit(std::string_view line);

// Quotes `word` so ShellSplit (and sh) yields it back unchanged; used to log
// command lines readably.
std::string ShellQuote(std::string_view word);
std::string ShellJoin(const std::vector<std::string>& words);

}  // namespace duende::worker
