module ctvae

go 1.26
