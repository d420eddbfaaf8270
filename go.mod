module ctvae

go 1.26

require github.com/hack-pad/safejs v0.1.1

require (
	github.com/nlpodyssey/gopickle v0.3.0
	golang.org/x/text v0.14.0 // indirect
)
