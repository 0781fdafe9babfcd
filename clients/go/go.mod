module wfaudit/clients/go

go 1.19
