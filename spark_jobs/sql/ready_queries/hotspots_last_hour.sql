-- The busiest grid cells in the newest hour of data: where couriers clustered most recently.
SELECT
    hour,
    cell_id,
    round(cell_latitude, 5) AS latitude,
    round(cell_longitude, 5) AS longitude,
    reports,
    couriers,
    orders
FROM gold_hotspots
WHERE dt = (SELECT max(dt) FROM gold_hotspots)
    AND hour = (SELECT max(hour) FROM gold_hotspots)
ORDER BY reports DESC, couriers DESC, cell_id
LIMIT 10
