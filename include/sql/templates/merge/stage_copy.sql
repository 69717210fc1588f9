-- Later loads: each valid part's items, row hash and delivery into the staging table.
COPY {staging} ({columns}) FROM STDIN WITH (FORMAT csv)
