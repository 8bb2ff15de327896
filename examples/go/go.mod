module spanline.example/client

go 1.19
