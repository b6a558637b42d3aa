SELECT event_date, bot_id, event_name, count(*) AS events
FROM read_parquet('botevents-data/custom_event_detail/**/*.parquet', hive_partitioning = true)
GROUP BY ALL
ORDER BY event_date DESC, events DESC
LIMIT 10;
