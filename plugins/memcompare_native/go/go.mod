module memcompare-replay

go 1.19
