/* abgpu completion bash: a bash completion script built from the command table and the
 * flags each command's --help lists, so the two cannot disagree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static void completion_help(void) {
  printf("usage: abgpu completion bash\n\n"
         "Prints a bash completion script for abgpu: commands, and each command's flags\n"
         "as its --help lists them. Load it with\n"
         "  source <(abgpu completion bash)\n"
         "or save it as ~/.local/share/bash-completion/completions/abgpu.\n\n"
         "  -h, --help        this text\n");
}

/* Runs the command's --help with stdout sent to a temporary file; returns that file,
 * rewound, or NULL. */
static FILE *help_text(const cli_command *c) {
  FILE *t = tmpfile();
  if (!t) return NULL;
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  if (saved < 0 || dup2(fileno(t), STDOUT_FILENO) < 0) { fclose(t); return NULL; }
  char name[32], help[] = "--help";
  snprintf(name, sizeof name, "%s", c->name);
  char *argv[] = {name, help, NULL};
  c->run(2, argv);
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  rewind(t);
  return t;
}

/* Appends flag (n bytes) to the space-separated list seen (size cap) unless it is there. */
static void add_flag(char *seen, size_t cap, const char *flag, size_t n) {
  char word[64];
  if (n + 3 > sizeof word) return;
  snprintf(word, sizeof word, " %.*s ", (int)n, flag);
  size_t len = strlen(seen);
  if (strstr(seen, word) || len + n + 2 > cap) return;
  snprintf(seen + len, cap - len, "%s", len ? word + 1 : word);
}

/* Adds the flags of one help line: a line whose flag column starts after two spaces, the
 * words starting with - before the description (two spaces after a flag or value name). */
static void line_flags(char *seen, size_t cap, const char *line) {
  if (strncmp(line, "  -", 3) != 0) return;
  const char *p = line + 2;
  while (*p == '-') {
    size_t n = strcspn(p, " ,=[\n");
    add_flag(seen, cap, p, n);
    p += n;
    if (*p == '=' || *p == '[') p += strcspn(p, " ,\n");
    if (*p == ',') p++;
    if (*p != ' ' || p[1] == ' ') return;
    p++;
    if (*p != '-') p += strcspn(p, " ,\n"); /* a value name such as F */
    if (*p == ',') p++;
    if (*p != ' ' || p[1] == ' ') return;
    p++;
  }
}

/* Prints the command's flags as its --help lists them, and --help. */
static int command_flags(const cli_command *c) {
  FILE *t = help_text(c);
  if (!t) return -1;
  char line[512], seen[4096] = "";
  while (fgets(line, sizeof line, t)) line_flags(seen, sizeof seen, line);
  fclose(t);
  add_flag(seen, sizeof seen, "--help", 6);
  printf("%s", seen);
  return 0;
}

static int print_bash(void) {
  size_t n;
  const cli_command *cmds = cli_commands(&n);
  printf("# bash completion for abgpu (abgpu completion bash)\n"
         "_abgpu() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} words=\n"
         "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
         "    words='--help --version");
  for (size_t i = 0; i < n; i++) printf(" %s", cmds[i].name);
  printf("'\n  else\n    case ${COMP_WORDS[1]} in\n");
  for (size_t i = 0; i < n; i++) {
    printf("    %s) words='", cmds[i].name);
    if (strcmp(cmds[i].name, "completion") == 0) printf("bash");
    if (command_flags(&cmds[i]) != 0) return CLI_EXIT_INTERNAL;
    printf("' ;;\n");
  }
  printf("    esac\n"
         "    if [[ $cur != -* && ${COMP_WORDS[1]} != completion ]]; then\n"
         "      COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "      return\n"
         "    fi\n"
         "  fi\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "}\n"
         "complete -o filenames -F _abgpu abgpu\n");
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_OUTPUT;
}

int cmd_completion(int argc, char **argv) {
  if (argc == 2 && (cli_switch(argv, 1, "--help") || cli_switch(argv, 1, "-h"))) {
    completion_help();
    return CLI_EXIT_OK;
  }
  if (argc == 2 && strcmp(argv[1], "bash") == 0) return print_bash();
  return cli_usage_error("completion", "expected one shell: bash");
}
