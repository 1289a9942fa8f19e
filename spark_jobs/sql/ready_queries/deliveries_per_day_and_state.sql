-- Orders per day by the state their last report was in, with their average duration and distance.
SELECT
    dt AS day,
    final_state,
    count(*) AS orders,
    round(avg(duration_s) / 60, 1) AS avg_minutes,
    round(avg(distance_km), 2) AS avg_km
FROM gold_order_trips
GROUP BY dt, final_state
ORDER BY dt, final_state
