// The verbs of the `roomcast` CLI (DESIGN §8). Each takes the whole argv
// (argv[1] is the verb), parses its own flags and returns the exit status:
// 0 success, 1 failure (one line on stderr), 2 bad usage.
#ifndef ROOMCAST_TOOLS_CLI_VERBS_H_
#define ROOMCAST_TOOLS_CLI_VERBS_H_

namespace roomcast::cli {

int Tail(int argc, char** argv);
int Replay(int argc, char** argv);
int Inspect(int argc, char** argv);
int Verify(int argc, char** argv);
int Token(int argc, char** argv);
int Post(int argc, char** argv);
// `roomcast moderate SUBCOMMAND`: argv[2] names the subcommand.
int Moderate(int argc, char** argv);
// `roomcast dev` lives in tools/dev.h (roomcast::dev).
int Dev(int argc, char** argv);

}  // namespace roomcast::cli

#endif  // ROOMCAST_TOOLS_CLI_VERBS_H_
