package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/internal/fsutil"
)

const dynsecUsage = `usage:
  triad dynsec init --admin USER (--config FILE | --file PATH) [--password-file F]
        write a dynamic-security.json with USER as its admin, as
        mosquitto_ctrl dynsec init does (the password is read from
        --password-file, or the first line of stdin); with --config the file
        is the node's dynsec.file, which seeds a cluster that has no
        configuration yet
  triad dynsec export (--config FILE | --file PATH)
        print the dynamic-security configuration, in Mosquitto's format (every
        node keeps its dynsec.file equal to the replicated configuration)
  triad dynsec import --mqtt HOST:PORT [--username admin] [--password-file F]
        [--cafile CA] FILE
        replace a running broker's configuration with FILE (a Mosquitto
        dynamic-security.json), through the control API as an admin: it is
        replicated and confirmed like any mosquitto_ctrl command; every other
        connected client is disconnected
`

// cmdDynsec runs `triad dynsec SUBCOMMAND`.
func cmdDynsec(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dynsecUsage)
		return 2
	}
	switch args[0] {
	case "init":
		return cmdDynsecInit(args[1:], stdin, stdout, stderr)
	case "export":
		return cmdDynsecExport(args[1:], stdout, stderr)
	case "import":
		return cmdDynsecImport(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dynsecUsage)
		return 0
	}
	fmt.Fprintf(stderr, "triad dynsec: unknown command %q\n%s", args[0], dynsecUsage)
	return 2
}

// dynsecFileFlags adds --config and --file to flags; resolve returns the
// file they name (exactly one of them must be given).
func dynsecFileFlags(flags *flag.FlagSet) (resolve func() (string, error)) {
	cfgPath := flags.String("config", "", "the node's configuration: its dynsec.file")
	file := flags.String("file", "", "a dynamic-security.json path")
	return func() (string, error) {
		switch {
		case (*cfgPath == "") == (*file == ""):
			return "", errors.New("give exactly one of --config FILE and --file PATH")
		case *file != "":
			return *file, nil
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.Dynsec.File, nil
	}
}

func cmdDynsecInit(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("triad dynsec init", flag.ContinueOnError)
	flags.SetOutput(stderr)
	admin := flags.String("admin", "", "username of the admin to create")
	pwFile := flags.String("password-file", "", "file whose first line is the admin's password (default: stdin)")
	resolve := dynsecFileFlags(flags)
	if err := flags.Parse(args); err != nil {
		return 2
	}
	path, err := resolve()
	if err == nil && (*admin == "" || flags.NArg() > 0) {
		err = errors.New("--admin USER is required and no other argument is taken")
	}
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec init: %v\n%s", err, dynsecUsage)
		return 2
	}
	if _, err := os.Lstat(path); err == nil {
		fmt.Fprintf(stderr, "triad dynsec init: %s already exists; remove it or choose another path (a running cluster is managed with mosquitto_ctrl)\n", path)
		return 1
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "triad dynsec init: %v\n", err)
		return 1
	}
	pw, err := readPassword(*pwFile, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec init: %v\n", err)
		return 1
	}
	hash, err := dynsec.HashPassword(pw, rand.Reader)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec init: %v\n", err)
		return 1
	}
	if err := fsutil.WriteFileDurable(path, dynsec.InitConfig(*admin, hash).MarshalFile(), 0o600); err != nil {
		fmt.Fprintf(stderr, "triad dynsec init: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "The client %q has been created in the file %q.\n"+
		"It may administer dynamic security only (role %q): create application clients with\n"+
		"  mosquitto_ctrl <connect options> dynsec createClient <username>\n", *admin, path, dynsec.InitAdminRole)
	return 0
}

// readPassword reads the first line of file, or of stdin when file is "".
// An empty password is refused, as mosquitto_ctrl refuses it.
func readPassword(file string, stdin io.Reader) (string, error) {
	src, name := stdin, "stdin"
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("password: %w", err)
		}
		defer f.Close()
		src, name = f, file
	}
	line, err := bufio.NewReader(src).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("password from %s: %w", name, err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("empty password from %s", name)
	}
	return pw, nil
}

func cmdDynsecExport(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("triad dynsec export", flag.ContinueOnError)
	flags.SetOutput(stderr)
	resolve := dynsecFileFlags(flags)
	if err := flags.Parse(args); err != nil {
		return 2
	}
	path, err := resolve()
	if err == nil && flags.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec export: %v\n%s", err, dynsecUsage)
		return 2
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec export: %v\n", err)
		return 1
	}
	cfg, problems, err := dynsec.Load(data)
	if err != nil {
		fmt.Fprintf(stderr, "triad dynsec export: %s: %v\n", path, err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "triad dynsec export: %s: ignored: %s\n", path, p)
	}
	if _, err := stdout.Write(cfg.MarshalFile()); err != nil {
		fmt.Fprintf(stderr, "triad dynsec export: %v\n", err)
		return 1
	}
	return 0
}
