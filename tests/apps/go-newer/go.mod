module example.com/gonewer

go 1.24
