package dynsec

import "os"

// Mosquitto 2.0.11's reference data (testdata/mosquitto/README.md): the
// dynamic-security.json the transcript ran against, and the transcript of
// its control API, one request and Mosquitto's exact response a line.
var (
	ctrlFixtureConfig     = readTestdata("testdata/mosquitto/dynamic-security.json")
	ctrlFixtureTranscript = readTestdata("testdata/mosquitto/control-api-transcript.jsonl")
)

func readTestdata(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err) // the tests cannot run without it
	}
	return string(data)
}
